import EtcdTestSupport
import Foundation
import Testing
@testable import SnapshotStore

@Suite("age codec")
struct AgeCodecTests {
    /// A key pair made by Debian's age-keygen: the identity file and its recipient.
    struct KeyFile {
        let path: String
        let recipient: String
    }

    func keygen(_ dir: URL, _ name: String = "key.txt") throws -> KeyFile {
        let path = dir.appendingPathComponent(name).path
        try runTool(try debianTool("age-keygen"), ["-o", path])
        let recipient = try runTool(try debianTool("age-keygen"), ["-y", path]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return KeyFile(path: path, recipient: recipient)
    }

    func encrypt(_ data: Data, to recipients: [AgeRecipient]) throws -> Data {
        let sink = DataByteSink()
        try DataByteSource(data).pump(into: try AgeEncryptor(recipients: recipients, downstream: sink), chunkSize: 50_000)
        #expect(sink.finished)
        return sink.data
    }

    func decrypt(_ data: Data, with identities: [AgeIdentity]) throws -> Data {
        try AgeDecryptor(upstream: DataByteSource(data), identities: identities, name: "snap.db.zst.age").readAll(chunkSize: 30_000)
    }

    @Test("age -d -i key.txt decrypts what AgeEncryptor writes, at every chunk boundary",
          arguments: [0, 1, 65_535, 65_536, 65_537, 131_072, 300_000])
    func ageDecryptsOurs(size: Int) throws {
        let dir = try TestDirectories.make("age")
        let key = try keygen(dir)
        let input = codecSample(size)
        let encrypted = dir.appendingPathComponent("snap.age").path
        try encrypt(input, to: [try AgeRecipient(key.recipient)]).write(to: URL(fileURLWithPath: encrypted))
        let out = dir.appendingPathComponent("snap.out").path
        // Through the shell's redirection: age -o creates no file for an empty plaintext.
        try runTool("/bin/sh", ["-c", "\(try debianTool("age")) -d -i '\(key.path)' '\(encrypted)' > '\(out)'"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == input)
    }

    @Test("AgeDecryptor decrypts what age -r encrypts, with the identity file age-keygen wrote",
          arguments: [0, 65_536, 200_000])
    func weDecryptTheirs(size: Int) throws {
        let dir = try TestDirectories.make("age")
        let key = try keygen(dir)
        let plain = dir.appendingPathComponent("plain").path
        let input = codecSample(size, seed: 3)
        try input.write(to: URL(fileURLWithPath: plain))
        let encrypted = plain + ".age"
        try runTool(try debianTool("age"), ["-r", key.recipient, "-o", encrypted, plain])
        let identities = try AgeIdentity.load(identityFile: key.path)
        let reader = try AgeDecryptor(upstream: try FileByteSource(path: encrypted), identities: identities, name: encrypted)
        #expect(try reader.readAll(chunkSize: 7_000) == input)
    }

    @Test("An identity file's recipient and the fingerprint match what age-keygen -y says")
    func recipientFromIdentity() throws {
        let dir = try TestDirectories.make("age")
        let key = try keygen(dir)
        let identity = try #require(try AgeIdentity.load(identityFile: key.path).first)
        #expect(identity.recipient.description == key.recipient)
        #expect(try AgeRecipient(key.recipient).description == key.recipient)
        // The fingerprint is SHA-256 over the raw key, checked with a second implementation (sha256sum).
        let raw = dir.appendingPathComponent("raw").path
        try Data(identity.recipient.publicKey).write(to: URL(fileURLWithPath: raw))
        let digest = try runTool("/usr/bin/sha256sum", [raw]).stdout.prefix(32)
        #expect(identity.recipient.fingerprint == "sha256:\(digest)")
        #expect(!identity.description.contains("AGE-SECRET-KEY"))
    }

    @Test("A file encrypted to two recipients decrypts with either identity, ours and age's")
    func twoRecipients() throws {
        let dir = try TestDirectories.make("age")
        let theirs = try keygen(dir)
        let ours = AgeIdentity.generate()
        let input = codecSample(100_000, seed: 5)
        let encrypted = try encrypt(input, to: [ours.recipient, try AgeRecipient(theirs.recipient)])
        #expect(try decrypt(encrypted, with: [ours]) == input)
        let path = dir.appendingPathComponent("two.age").path
        try encrypted.write(to: URL(fileURLWithPath: path))
        try runTool(try debianTool("age"), ["-d", "-i", theirs.path, "-o", path + ".out", path])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + ".out")) == input)
        // Our identity written as age-keygen writes it decrypts with Debian's age too.
        let ourKey = dir.appendingPathComponent("ours.txt").path
        try "# public key: \(ours.recipient)\n\(ours.secretKeyString)\n".write(toFile: ourKey, atomically: true, encoding: .utf8)
        try runTool(try debianTool("age"), ["-d", "-i", ourKey, "-o", path + ".out2", path])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + ".out2")) == input)
    }

    @Test("A wrong identity is a clear error that names the file and the identity's recipient")
    func wrongIdentity() throws {
        let right = AgeIdentity.generate(), wrong = AgeIdentity.generate()
        let encrypted = try encrypt(codecSample(1000), to: [right.recipient])
        let error = expectCodecError { _ = try decrypt(encrypted, with: [wrong]) }
        #expect(error?.kind == .ageNoMatchingIdentity)
        #expect(error?.detail == "snap.db.zst.age cannot be decrypted with the given age identity (recipient \(wrong.recipient)): it is encrypted to 1 other X25519 recipient(s); use the identity file whose public key was in remote.age-recipients when the backup was made")
    }

    @Test("A tampered payload byte is reported with the chunk that failed")
    func tamperedChunk() throws {
        let identity = AgeIdentity.generate()
        var encrypted = try encrypt(codecSample(200_000), to: [identity.recipient])
        let headerEnd = encrypted.range(of: Data("\n".utf8), in: encrypted.range(of: Data("---".utf8))!.upperBound..<encrypted.count)!.upperBound
        let chunk1 = headerEnd + 16 + (65_536 + 16) + 10   // after the nonce and chunk 0
        encrypted[chunk1] ^= 1
        let error = expectCodecError { _ = try decrypt(encrypted, with: [identity]) }
        #expect(error?.kind == .ageAuthentication)
        #expect(error?.detail == "snap.db.zst.age: age chunk 1 (byte offset 65552 of the payload) failed authentication: the file was tampered with or damaged")
    }

    @Test("A tampered header is reported as a header MAC mismatch, before any data")
    func tamperedHeader() throws {
        let identity = AgeIdentity.generate(), other = AgeIdentity.generate()
        let encrypted = try encrypt(codecSample(1000), to: [identity.recipient, other.recipient])
        // Swap the order of the two stanzas: every stanza still unwraps, but the MAC covers the header as written.
        var text = String(decoding: encrypted.prefix(encrypted.range(of: Data("---".utf8))!.lowerBound), as: UTF8.self)
        let lines = text.split(separator: "\n")
        text = [lines[0], lines[3], lines[4], lines[1], lines[2]].joined(separator: "\n") + "\n"
        let tampered = Data(text.utf8) + encrypted.suffix(from: encrypted.range(of: Data("---".utf8))!.lowerBound)
        let error = expectCodecError { _ = try decrypt(tampered, with: [identity]) }
        #expect(error?.kind == .ageAuthentication)
        #expect(error?.detail == "snap.db.zst.age: the age header's MAC does not match: the header was tampered with or damaged")
    }

    @Test("A file cut at a chunk boundary is reported as truncated, not read as complete")
    func truncatedAtChunkBoundary() throws {
        let identity = AgeIdentity.generate()
        let encrypted = try encrypt(codecSample(200_000), to: [identity.recipient])
        let headerEnd = encrypted.range(of: Data("\n".utf8), in: encrypted.range(of: Data("---".utf8))!.upperBound..<encrypted.count)!.upperBound
        let cut = encrypted.prefix(headerEnd + 16 + 2 * (65_536 + 16))
        let error = expectCodecError { _ = try decrypt(Data(cut), with: [identity]) }
        #expect(error?.detail == "snap.db.zst.age is truncated: it ends after age chunk 1 (byte offset 65552 of the payload), which is not the last chunk")
    }

    @Test("Bytes that are not age, and armored age, are named as such")
    func notAge() throws {
        let identity = AgeIdentity.generate()
        let plain = expectCodecError { _ = try decrypt(Data("bbolt\n".utf8), with: [identity]) }
        #expect(plain?.detail == "snap.db.zst.age is not an age file: it does not start with \"age-encryption.org/v1\"")
        let armored = expectCodecError { _ = try decrypt(Data("-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n".utf8), with: [identity]) }
        #expect(armored?.detail == "snap.db.zst.age is ASCII-armored age: etcd-console reads binary age files (age without -a)")
    }

    @Test("Bad recipients and identities are refused with the reason", arguments: [
        ("age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
         "age recipient \"age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\" is not valid: its bech32 checksum is wrong (a typo, or it was cut short); expected age1... as age-keygen prints it"),
        ("ssh-ed25519 AAAA", "age recipient \"ssh-ed25519 AAAA\" is not an X25519 recipient: expected age1... as age-keygen prints it (ssh and plugin recipients are not supported)"),
    ])
    func badRecipient(input: String, message: String) throws {
        let error = expectCodecError { _ = try AgeRecipient(input) }
        #expect(error?.kind == .ageKey)
        #expect(error?.detail == message)
    }

    @Test("A recipient with one character changed fails its checksum; an identity file error names the line, not the key")
    func typoAndIdentityFile() throws {
        let identity = AgeIdentity.generate()
        var recipient = Array(identity.recipient.description)
        recipient[10] = recipient[10] == "q" ? "p" : "q"
        let error = expectCodecError { _ = try AgeRecipient(String(recipient)) }
        #expect(error?.detail.contains("its bech32 checksum is wrong") == true)
        let dir = try TestDirectories.make("age")
        let path = dir.appendingPathComponent("key.txt").path
        var secret = Array(identity.secretKeyString)
        secret[30] = secret[30] == "Q" ? "P" : "Q"
        try "# created: now\n\(String(secret))\n".write(toFile: path, atomically: true, encoding: .utf8)
        let fileError = expectCodecError { _ = try AgeIdentity.load(identityFile: path) }
        #expect(fileError?.detail == "age identity file \(path) line 2: age identity starting \"AGE-SECRET-KEY-\" is not valid: its bech32 checksum is wrong (a typo, or it was cut short); expected AGE-SECRET-KEY-1... as age-keygen writes it")
        #expect(fileError?.detail.contains(String(secret)) == false)
    }

    @Test("file -> zstd -> age on disk: age -d | zstd -d gives the bytes back, and so does our read pipeline")
    func pipeline() throws {
        let dir = try TestDirectories.make("age")
        let key = try keygen(dir)
        let input = codecSample(2 << 20, seed: 11)
        let source = dir.appendingPathComponent("snap.db").path
        try input.write(to: URL(fileURLWithPath: source))
        let target = dir.appendingPathComponent("snap.db.zst.age").path
        let file = try AtomicFileSink(path: target)
        let writer = try ZstdCompressor(downstream: try AgeEncryptor(recipients: [try AgeRecipient(key.recipient)], downstream: file))
        try FileByteSource(path: source).pump(into: writer)
        #expect(FileManager.default.fileExists(atPath: target))
        let mode = try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let out = dir.appendingPathComponent("out.db").path
        try runTool("/bin/sh", ["-c", "\(try debianTool("age")) -d -i '\(key.path)' '\(target)' | \(try debianTool("zstd")) -q -d -o '\(out)'"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == input)
        let reader = try ZstdDecompressor(
            upstream: try AgeDecryptor(upstream: try FileByteSource(path: target),
                                       identities: try AgeIdentity.load(identityFile: key.path), name: target),
            name: target)
        #expect(try reader.readAll() == input)
    }
}
