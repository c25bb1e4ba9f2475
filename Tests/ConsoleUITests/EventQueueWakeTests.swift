@testable import ConsoleUI
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The UI loop waits for a key on the terminal and on the event queue's wake pipe: a result posted by a task is
/// drawn at once, not after the rest of the 100 ms key timeout.
@Suite("The event queue wakes the UI loop")
struct EventQueueWakeTests {
    /// Whether `fd` is readable within `milliseconds`.
    private func readable(_ fd: Int32, within milliseconds: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, milliseconds) == 1 && poller.revents & Int16(POLLIN) != 0
    }

    @Test("A post makes the wake descriptor readable; take empties it and returns the events in order")
    func wakes() {
        let queue = EventQueue()
        #expect(queue.wakeReadFD >= 0)
        #expect(!readable(queue.wakeReadFD, within: 0), "nothing posted yet")
        queue.post(.snapshotsFailed("first"))
        queue.post(.snapshotsFailed("second"))
        #expect(readable(queue.wakeReadFD, within: 0))
        let taken = queue.take().map { event -> String in
            if case .snapshotsFailed(let text) = event { return text }
            return "other"
        }
        #expect(taken == ["first", "second"])
        #expect(!readable(queue.wakeReadFD, within: 0), "take drains the pipe")
    }

    @Test("A post from another thread ends a wait that has already begun, long before its timeout")
    func wakesAWaitInProgress() {
        let queue = EventQueue()
        let started = ContinuousClock.now
        Thread {
            usleep(20_000)   // lets the wait below begin first; the check holds either way
            queue.post(.snapshotsFailed("late"))
        }.start()
        #expect(readable(queue.wakeReadFD, within: 5_000))
        #expect(ContinuousClock.now - started < .seconds(4), "the wait ended by the post, not by its timeout")
        #expect(queue.take().count == 1)
    }

    @Test("Thousands of posts nobody takes never block the poster (the pipe is non-blocking) and lose no event")
    func manyPosts() {
        let queue = EventQueue()
        for index in 0..<100_000 { queue.post(.snapshotsFailed("\(index)")) }
        #expect(queue.take().count == 100_000)
        #expect(!readable(queue.wakeReadFD, within: 0))
    }
}
