import Crypto
import Foundation

/// An age X25519 recipient (`age1...`): the public key files are encrypted to.
public struct AgeRecipient: Sendable, Hashable, CustomStringConvertible {
    /// The 32-byte X25519 public key.
    public let publicKey: [UInt8]

    /// Parses `age1...` (bech32, HRP "age", 32 bytes).
    public init(_ string: String) throws {
        let trimmed = string.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("age1") else {
            throw CodecError(.ageKey, "age recipient \"\(trimmed)\" is not an X25519 recipient: expected age1... as age-keygen prints it (ssh and plugin recipients are not supported)")
        }
        switch Bech32.decode(trimmed) {
        case .failure(let why):
            throw CodecError(.ageKey, "age recipient \"\(trimmed)\" is not valid: \(why); expected age1... as age-keygen prints it")
        case .success(let (hrp, data)):
            guard hrp == "age" else {
                throw CodecError(.ageKey, "age recipient \"\(trimmed)\" is not an X25519 recipient: it starts with \"\(hrp)1\", expected age1...")
            }
            guard data.count == 32 else {
                throw CodecError(.ageKey, "age recipient \"\(trimmed)\" holds \(data.count) bytes, expected a 32-byte X25519 key")
            }
            publicKey = data
        }
    }

    init(publicKey: [UInt8]) { self.publicKey = publicKey }

    /// The `age1...` string.
    public var description: String { Bech32.encode(hrp: "age", data: publicKey) }

    /// What a manifest records about this recipient without naming it outright: `sha256:` and the first
    /// 16 bytes (32 hex digits) of SHA-256 over the 32-byte public key. Lets an operator check which keys
    /// can decrypt an object (`age-keygen -y key.txt` gives the recipient to hash) without listing them.
    public var fingerprint: String {
        "sha256:" + SHA256.hash(data: publicKey).prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}

/// An age X25519 identity (`AGE-SECRET-KEY-1...`): the private key that decrypts. Never printed.
public struct AgeIdentity: Sendable, CustomStringConvertible {
    /// The 32-byte X25519 scalar (kept as bytes: swift-crypto's key type is not Sendable).
    private let secret: [UInt8]
    var privateKey: Curve25519.KeyAgreement.PrivateKey {
        try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: secret)   // validated in init
    }

    /// Parses one `AGE-SECRET-KEY-1...` string.
    public init(secretKey string: String) throws {
        let trimmed = string.trimmingCharacters(in: .whitespaces)
        switch Bech32.decode(trimmed) {
        case .failure(let why):
            // The key itself is never echoed back: only its first characters.
            throw CodecError(.ageKey, "age identity starting \"\(trimmed.prefix(15))\" is not valid: \(why); expected AGE-SECRET-KEY-1... as age-keygen writes it")
        case .success(let (hrp, data)):
            guard hrp == "age-secret-key-", data.count == 32 else {
                throw CodecError(.ageKey, "age identity is not an X25519 secret key: expected AGE-SECRET-KEY-1... (32 bytes), found \"\(hrp.uppercased())1...\" with \(data.count) bytes")
            }
            _ = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: data)
            secret = data
        }
    }

    /// A fresh random identity (tests, and a future `keygen`).
    public static func generate() -> AgeIdentity { AgeIdentity(privateKey: .init()) }

    init(privateKey: Curve25519.KeyAgreement.PrivateKey) { secret = Array(privateKey.rawRepresentation) }

    /// The recipient that files for this identity are encrypted to.
    public var recipient: AgeRecipient { AgeRecipient(publicKey: Array(privateKey.publicKey.rawRepresentation)) }

    /// `AGE-SECRET-KEY-1...`, for writing a key file (never for logs).
    public var secretKeyString: String {
        Bech32.encode(hrp: "age-secret-key-", data: Array(privateKey.rawRepresentation)).uppercased()
    }

    /// Never the key: only the recipient it belongs to.
    public var description: String { "age identity for \(recipient)" }

    /// Every `AGE-SECRET-KEY-1...` line of an identity file as `age-keygen` writes it (`#` comments and blank
    /// lines skipped). Errors name the file and line, never the key.
    public static func load(identityFile path: String) throws -> [AgeIdentity] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CodecError(.io, "could not read age identity file \(path): \((error as NSError).localizedDescription)")
        }
        var identities: [AgeIdentity] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            do {
                identities.append(try AgeIdentity(secretKey: trimmed))
            } catch let error as CodecError {
                throw CodecError(.ageKey, "age identity file \(path) line \(number + 1): \(error.detail)")
            }
        }
        guard !identities.isEmpty else {
            throw CodecError(.ageKey, "age identity file \(path) holds no AGE-SECRET-KEY-1... line")
        }
        return identities
    }
}
