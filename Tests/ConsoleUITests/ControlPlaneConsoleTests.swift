@testable import ConsoleUI
import Foundation
import SnapshotStore
import Testing

/// The bundles beside the snapshot detail and the certificate warning in the header (issue 15).
@Suite("Console control-plane bundles and certificate expiry")
struct ControlPlaneConsoleTests {
    typealias F = ConsoleFixtures

    static let bundle = ControlPlaneView.Bundle(name: "bundle-20261125T120000Z.tar", files: 23, size: 43_008,
                                                createdAt: F.now.addingTimeInterval(-86_400), expiringCertificates: 1)

    static func console(_ view: ControlPlaneView?) -> Console {
        var c = F.console()
        _ = c.apply(.members(F.healthyMembers, at: F.now))
        #expect(c.apply(.snapshots(F.listing(3), freeBytes: 41_234_567_890, at: F.now)) == [.loadControlPlane])
        if let view { _ = c.apply(.controlPlane(view)) }
        c.tab = .snapshots
        return c
    }

    static func screen(_ c: Console, width: Int = 80, height: Int = 24) -> TextGrid {
        var grid = TextGrid(width: width, height: height)
        c.render(into: &grid)
        return grid
    }

    @Test("The selected snapshot's detail names its bundle (files, size, expiring certificates); one without a bundle says so")
    func detail() throws {
        let view = ControlPlaneView(bundles: [F.entry(0).name: Self.bundle], expiring: [])
        var c = Self.console(view)
        c.snapshots.selected = c.snapshots.visible.firstIndex { $0.name == F.entry(0).name }!
        let grid = Self.screen(c)
        #expect(grid.lines.contains { $0.contains("bundle bundle-20261125T120000Z.tar · 23 files · 43 kB · 1 cert expiring") }, "\(grid.text)")
        // Ours without a bundle (snapshot save keeps none) says so; a foreign file says nothing of bundles.
        c.snapshots.selected = try #require(c.snapshots.visible.firstIndex { $0.name != F.entry(0).name && $0.isOurs })
        let other = Self.screen(c)
        #expect(other.lines.contains { $0.contains("bundle: none kept with this snapshot") }, "\(other.text)")
        c.snapshots.selected = try #require(c.snapshots.visible.firstIndex { !$0.isOurs })
        #expect(!Self.screen(c).text.contains("bundle"))
        #expect(!other.text.contains("bundle-20261125T120000Z.tar"))
        // Before the bundles are read, the detail says nothing about them.
        let unread = Self.screen(Self.console(nil))
        #expect(!unread.text.contains("bundle"), "\(unread.text)")
    }

    @Test("The header warns of the soonest certificate expiry within 30 days, counts the others, and says EXPIRED once past")
    func header() {
        let soon = ControlPlaneView(bundles: [:], expiring: [
            .init(path: "/etc/kubernetes/pki/apiserver.crt", notAfter: F.now.addingTimeInterval(9.5 * 86_400)),
            .init(path: "/etc/etcd/ssl/etcd.pem", notAfter: F.now.addingTimeInterval(20 * 86_400)),
        ])
        let grid = Self.screen(Self.console(soon))
        #expect(grid.lines[1].hasSuffix("! cert apiserver.crt expires in 9d +1"), "\(grid.lines[1])")
        let expired = ControlPlaneView(bundles: [:], expiring: [.init(path: "/etc/etcd/ssl/etcd.pem", notAfter: F.now.addingTimeInterval(-60))])
        #expect(Self.screen(Self.console(expired)).lines[1].contains("! cert etcd.pem EXPIRED"))
        let none = Self.screen(Self.console(ControlPlaneView(bundles: [:], expiring: [])))
        #expect(!none.lines[1].contains("! cert"), "\(none.lines[1])")
    }
}
