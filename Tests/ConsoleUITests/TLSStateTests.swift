@testable import ConsoleUI
import EtcdClient
import Foundation
import Testing

/// A TLS error is not "etcd unreachable": the console says TLS, and does not run the doctor (etcd is running).
@Suite("Console: a TLS failure is said as such")
struct TLSStateTests {
    typealias F = ConsoleFixtures

    @Test("A TLS handshake failure on every endpoint is a TLS failure; a refused connection is not")
    func classification() {
        let tls = EtcdClientError(.tlsHandshake(.unknownAuthority), endpoint: "https://10.0.0.5:2379", "TLS handshake failed: certificate signed by unknown authority")
        let refused = EtcdClientError(.connectionRefused, endpoint: "https://10.0.0.6:2379", "connection refused")
        #expect(tls.isTLSFailure)
        #expect(!refused.isTLSFailure)
        #expect(EtcdClientError(.noEndpointAvailable, endpoint: "", "no endpoint answered", underlying: [tls, tls]).isTLSFailure)
        #expect(!EtcdClientError(.noEndpointAvailable, endpoint: "", "no endpoint answered", underlying: [tls, refused]).isTLSFailure)
    }

    @Test("membersTLSFailed: the header says TLS error, no doctor is asked, no 'No action needed'")
    func noDoctor() {
        var c = F.console()
        let effects = c.apply(.membersTLSFailed("could not reach https://10.0.0.5:2379: TLS handshake failed: certificate signed by unknown authority",
                                                 at: F.now))
        #expect(!effects.contains(.diagnoseDataDir))
        var grid = TextGrid(width: 80, height: 24)
        c.render(into: &grid)
        #expect(grid.text.contains("TLS error talking to etcd since"))
        #expect(!grid.text.contains("etcd unreachable"))
        #expect(!grid.text.contains("No action needed"))
        // A later plain outage is an outage again, with the doctor.
        #expect(c.apply(.membersFailed("connection refused", at: F.now)).contains(.diagnoseDataDir))
    }
}
