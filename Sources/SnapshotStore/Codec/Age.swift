import Crypto
import Foundation

/// The age v1 format (C2SP age spec, https://age-encryption.org/v1) with X25519 recipients.
///
/// Header: `age-encryption.org/v1`, one `-> X25519 <ephemeral share>` stanza per recipient whose body is the
/// 16-byte file key sealed with ChaCha20-Poly1305 under HKDF-SHA256(X25519 shared secret,
/// salt = share || recipient, info "age-encryption.org/v1/X25519"), then `--- <MAC>` where the MAC is
/// HMAC-SHA256 under HKDF(file key, info "header") over the header up to and including `---`.
/// Payload: a 16-byte nonce, then 64 KiB plaintext chunks sealed with ChaCha20-Poly1305 under
/// HKDF(file key, salt = nonce, info "payload"), chunk nonce = 11-byte big-endian counter || last-chunk flag.
public enum Age {
    static let intro = "age-encryption.org/v1"
    static let chunkSize = 64 << 10
    static let tagSize = 16
    static let x25519Info = Data("age-encryption.org/v1/X25519".utf8)
    /// The longest header we read before calling the input "not age": 1000 recipients fit easily.
    static let maxHeaderBytes = 256 << 10

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// Canonical unpadded base64 as age writes it.
    static func base64(_ bytes: some DataProtocol) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    /// Decodes canonical unpadded base64; nil for padding, bad characters or non-canonical trailing bits.
    static func unbase64(_ string: Substring) -> Data? {
        guard !string.contains("="), !string.contains("\r") else { return nil }
        var padded = String(string)
        while padded.count % 4 != 0 { padded += "=" }
        guard let data = Data(base64Encoded: padded), base64(data) == string else { return nil }
        return data
    }

    static func derive(_ ikm: some DataProtocol, salt: some DataProtocol, info: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: Data(ikm)), salt: Data(salt),
                               info: Data(info.utf8), outputByteCount: 32)
    }

    static func chunkNonce(_ counter: UInt64, last: Bool) throws -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for i in 0..<8 { bytes[10 - i] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(i))) }
        bytes[11] = last ? 1 : 0
        return try ChaChaPoly.Nonce(data: bytes)
    }

    static var zeroNonce: ChaChaPoly.Nonce { try! ChaChaPoly.Nonce(data: [UInt8](repeating: 0, count: 12)) }
}

/// A write stage that age-encrypts everything written to one or more X25519 recipients and passes the age
/// file (binary, not armored) to `downstream`. Memory: one 64 KiB chunk of plaintext and its ciphertext.
public final class AgeEncryptor: ByteSink {
    private let downstream: ByteSink
    private let payloadKey: SymmetricKey
    private var chunk: [UInt8] = []
    private var counter: UInt64 = 0
    private var finished = false

    public init(recipients: [AgeRecipient], downstream: ByteSink) throws {
        guard !recipients.isEmpty else {
            throw CodecError(.ageKey, "age encryption needs at least one recipient (age1...)")
        }
        self.downstream = downstream
        let fileKey = Age.randomBytes(16)
        var header = Age.intro + "\n"
        for recipient in recipients {
            let ephemeral = Curve25519.KeyAgreement.PrivateKey()
            let share = Array(ephemeral.publicKey.rawRepresentation)
            let secret = try ephemeral.sharedSecretFromKeyAgreement(
                with: Curve25519.KeyAgreement.PublicKey(rawRepresentation: recipient.publicKey))
            let wrapKey = secret.withUnsafeBytes { Age.derive($0, salt: share + recipient.publicKey, info: "age-encryption.org/v1/X25519") }
            let sealed = try ChaChaPoly.seal(fileKey, using: wrapKey, nonce: Age.zeroNonce)
            let body = Age.base64(sealed.ciphertext + sealed.tag)  // 32 bytes -> 43 characters: one short line
            header += "-> X25519 \(Age.base64(share))\n\(body)\n"
        }
        header += "---"
        let macKey = Age.derive(fileKey, salt: [UInt8](), info: "header")
        let mac = HMAC<SHA256>.authenticationCode(for: Data(header.utf8), using: macKey)
        header += " \(Age.base64(Data(mac)))\n"
        let nonce = Age.randomBytes(16)
        payloadKey = Age.derive(fileKey, salt: nonce, info: "payload")
        chunk.reserveCapacity(Age.chunkSize)
        try downstream.write(Data(header.utf8))
        try downstream.write(Data(nonce))
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!finished, "AgeEncryptor.write after finish")
        var offset = 0
        while offset < bytes.count {
            // A full chunk is sealed only once more data arrives: the last chunk may be full, and is flagged.
            if chunk.count == Age.chunkSize { try seal(last: false) }
            let take = min(Age.chunkSize - chunk.count, bytes.count - offset)
            chunk.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
            offset += take
        }
    }

    public func finish() throws {
        precondition(!finished, "AgeEncryptor.finish twice")
        finished = true
        try seal(last: true)
        try downstream.finish()
    }

    private func seal(last: Bool) throws {
        let sealed = try ChaChaPoly.seal(chunk, using: payloadKey, nonce: Age.chunkNonce(counter, last: last))
        try downstream.write(sealed.ciphertext)
        try downstream.write(sealed.tag)
        counter += 1
        chunk.removeAll(keepingCapacity: true)
    }
}

/// A read stage that decrypts an age v1 file (binary) from `upstream` with X25519 identities. The header is read
/// and checked (recipient match, header MAC) in `init`, so a wrong identity fails before any plaintext is
/// produced. Each 64 KiB chunk is authenticated before a byte of it is returned; a tampered or truncated file
/// fails with the chunk's number and byte offset. Memory: one chunk of ciphertext and one of plaintext.
public final class AgeDecryptor: ByteSource {
    private let upstream: ByteSource
    /// What the stream is called in errors (a file path or object key).
    public let name: String
    private let payloadKey: SymmetricKey
    private var cipher: [UInt8] = []   // read-ahead: up to one sealed chunk plus one byte
    private var plain: [UInt8] = []
    private var plainOffset = 0
    private var counter: UInt64 = 0
    private var upstreamEnded = false
    private var sawLastChunk = false
    private static let sealedChunk = Age.chunkSize + Age.tagSize

    public init(upstream: ByteSource, identities: [AgeIdentity], name: String) throws {
        precondition(!identities.isEmpty, "AgeDecryptor needs at least one identity")
        self.upstream = upstream
        self.name = name
        var reader = HeaderReader(upstream: upstream, name: name)
        let header = try reader.parse()
        var fileKey: Data?
        let x25519 = header.stanzas.filter { $0.type == "X25519" }
        search: for stanza in x25519 {
            guard stanza.arguments.count == 1, let share = Age.unbase64(stanza.arguments[0]), share.count == 32,
                  stanza.body.count == 32 else {
                throw CodecError(.ageFormat, "\(name): malformed X25519 recipient stanza in the age header")
            }
            for identity in identities {
                let secret: SharedSecret
                do {
                    secret = try identity.privateKey.sharedSecretFromKeyAgreement(
                        with: Curve25519.KeyAgreement.PublicKey(rawRepresentation: share))
                } catch {
                    continue
                }
                if secret.withUnsafeBytes({ $0.allSatisfy { $0 == 0 } }) {
                    throw CodecError(.ageFormat, "\(name): an X25519 stanza's share is a low-order point (a crafted file)")
                }
                let wrapKey = secret.withUnsafeBytes {
                    Age.derive($0, salt: Array(share) + identity.recipient.publicKey, info: "age-encryption.org/v1/X25519")
                }
                let box = try ChaChaPoly.SealedBox(nonce: Age.zeroNonce, ciphertext: stanza.body.prefix(16),
                                                   tag: stanza.body.suffix(16))
                if let key = try? ChaChaPoly.open(box, using: wrapKey) {
                    fileKey = key
                    break search
                }
            }
        }
        guard let fileKey else {
            let others = Set(header.stanzas.map(\.type)).subtracting(["X25519"]).sorted()
            let mine = identities.map { $0.recipient.description }.joined(separator: ", ")
            var detail = "\(name) cannot be decrypted with the given age identity (recipient \(mine)): it is encrypted to \(x25519.count) other X25519 recipient(s)"
            if !others.isEmpty { detail += " and to \(others.joined(separator: ", ")) recipients, which etcd-console does not support" }
            detail += "; use the identity file whose public key was in remote.age-recipients when the backup was made"
            throw CodecError(.ageNoMatchingIdentity, detail)
        }
        let macKey = Age.derive(fileKey, salt: [UInt8](), info: "header")
        guard HMAC<SHA256>.isValidAuthenticationCode(header.mac, authenticating: header.macInput, using: macKey) else {
            throw CodecError(.ageAuthentication, "\(name): the age header's MAC does not match: the header was tampered with or damaged")
        }
        var pending = reader.leftover
        var ended = false
        var scratch = [UInt8](repeating: 0, count: 16)
        while pending.count < 16 {
            let got = try scratch.withUnsafeMutableBytes { try upstream.read(into: $0) }
            if got == 0 { ended = true; break }
            pending.append(contentsOf: scratch[..<got])
        }
        guard pending.count >= 16 else {
            throw CodecError(.ageAuthentication, "\(name) is truncated: the age payload nonce is missing (\(pending.count) of 16 bytes)")
        }
        payloadKey = Age.derive(fileKey, salt: pending.prefix(16), info: "payload")
        cipher = Array(pending.dropFirst(16))
        upstreamEnded = ended
        cipher.reserveCapacity(Self.sealedChunk + 1)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        while plainOffset == plain.count {
            if sawLastChunk {
                try fill(upTo: 1)
                if !cipher.isEmpty {
                    throw CodecError(.ageAuthentication, "\(name) has data after the age payload's last chunk (chunk \(counter - 1)): appended or damaged")
                }
                return 0
            }
            try openNextChunk()
        }
        let count = min(buffer.count, plain.count - plainOffset)
        plain.withUnsafeBytes { bytes in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[plainOffset..<(plainOffset + count)]))
        }
        plainOffset += count
        return count
    }

    private func fill(upTo count: Int) throws {
        var scratch = [UInt8](repeating: 0, count: 0)
        while cipher.count < count && !upstreamEnded {
            let want = count - cipher.count
            if scratch.count < want { scratch = [UInt8](repeating: 0, count: want) }
            let got = try scratch.withUnsafeMutableBytes {
                try upstream.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<want]))
            }
            if got == 0 { upstreamEnded = true } else { cipher.append(contentsOf: scratch[..<got]) }
        }
    }

    private func openNextChunk() throws {
        try fill(upTo: Self.sealedChunk + 1)
        let offset = "byte offset \(UInt64(Self.sealedChunk) * counter) of the payload"
        let last = cipher.count <= Self.sealedChunk
        let sealedCount = last ? cipher.count : Self.sealedChunk
        guard sealedCount >= Age.tagSize else {
            throw CodecError(.ageAuthentication, "\(name) is truncated: age chunk \(counter) (\(offset)) is \(sealedCount) bytes, shorter than its 16-byte tag")
        }
        let sealed = cipher[..<sealedCount]
        let box = try ChaChaPoly.SealedBox(nonce: Age.chunkNonce(counter, last: last),
                                           ciphertext: sealed.dropLast(Age.tagSize), tag: sealed.suffix(Age.tagSize))
        do {
            plain = Array(try ChaChaPoly.open(box, using: payloadKey))
        } catch {
            if last, let other = try? ChaChaPoly.SealedBox(nonce: Age.chunkNonce(counter, last: false),
                                                          ciphertext: sealed.dropLast(Age.tagSize), tag: sealed.suffix(Age.tagSize)),
               (try? ChaChaPoly.open(other, using: payloadKey)) != nil {
                throw CodecError(.ageAuthentication, "\(name) is truncated: it ends after age chunk \(counter) (\(offset)), which is not the last chunk")
            }
            throw CodecError(.ageAuthentication, "\(name): age chunk \(counter) (\(offset)) failed authentication: the file was tampered with or damaged")
        }
        if last && plain.isEmpty && counter > 0 {
            throw CodecError(.ageFormat, "\(name): the age payload ends with an empty chunk \(counter), which the format forbids")
        }
        plainOffset = 0
        cipher.removeFirst(sealedCount)
        counter += 1
        sawLastChunk = last
    }
}

/// Reads and splits an age header line by line, keeping the bytes the MAC covers and what follows the header.
private struct HeaderReader {
    struct Stanza { var type: String; var arguments: [Substring]; var body: Data }
    struct Header { var stanzas: [Stanza]; var mac: Data; var macInput: Data }

    let upstream: ByteSource
    let name: String
    var buffer: [UInt8] = []
    var position = 0
    var consumed = Data()
    var leftover: [UInt8] { Array(buffer[position...]) }

    init(upstream: ByteSource, name: String) {
        self.upstream = upstream
        self.name = name
    }

    mutating func line() throws -> Substring {
        while true {
            if let newline = buffer[position...].firstIndex(of: 10) {
                let bytes = buffer[position..<newline]
                consumed.append(contentsOf: buffer[position...newline])
                position = newline + 1
                guard let text = String(bytes: bytes, encoding: .utf8) else {
                    throw CodecError(.ageFormat, "\(name) is not an age file: its header is not text")
                }
                return Substring(text)
            }
            guard buffer.count < Age.maxHeaderBytes else {
                throw CodecError(.ageFormat, "\(name) is not an age file: no header end within \(Age.maxHeaderBytes) bytes")
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let got = try chunk.withUnsafeMutableBytes { try upstream.read(into: $0) }
            if got == 0 {
                if buffer.isEmpty {
                    throw CodecError(.ageFormat, "\(name) is empty: expected an age-encrypted file")
                }
                throw CodecError(.ageFormat, "\(name) is not a complete age file: it ends inside the header")
            }
            buffer.append(contentsOf: chunk[..<got])
        }
    }

    mutating func parse() throws -> Header {
        let first = try line()
        guard first == Age.intro else {
            if first.hasPrefix("-----BEGIN AGE ENCRYPTED FILE-----") {
                throw CodecError(.ageFormat, "\(name) is ASCII-armored age: etcd-console reads binary age files (age without -a)")
            }
            throw CodecError(.ageFormat, "\(name) is not an age file: it does not start with \"\(Age.intro)\"")
        }
        var stanzas: [Stanza] = []
        while true {
            let next = try line()
            if next.hasPrefix("---") {
                let parts = next.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2, parts[0] == "---", let mac = Age.unbase64(parts[1]), mac.count == 32 else {
                    throw CodecError(.ageFormat, "\(name): the age header's MAC line is malformed")
                }
                var macInput = consumed
                macInput.removeLast(next.utf8.count + 1 - 3)  // keep "---", drop " <mac>\n"
                return Header(stanzas: stanzas, mac: mac, macInput: macInput)
            }
            guard next.hasPrefix("-> ") else {
                throw CodecError(.ageFormat, "\(name): unexpected line in the age header (expected a \"-> \" stanza or \"---\")")
            }
            let words = next.dropFirst(3).split(separator: " ", omittingEmptySubsequences: false)
            guard let type = words.first, !type.isEmpty, words.allSatisfy({ !$0.isEmpty }) else {
                throw CodecError(.ageFormat, "\(name): malformed stanza line in the age header")
            }
            var body = Data()
            while true {
                let bodyLine = try line()
                guard bodyLine.count <= 64, let bytes = Age.unbase64(bodyLine) else {
                    throw CodecError(.ageFormat, "\(name): malformed stanza body in the age header")
                }
                body.append(bytes)
                if bodyLine.count < 64 { break }
            }
            stanzas.append(Stanza(type: String(type), arguments: Array(words.dropFirst()), body: body))
        }
    }
}
