/// BIP 173 bech32 (not bech32m), as age uses it for `age1...` recipients and `AGE-SECRET-KEY-1...` identities.
/// age allows strings longer than BIP 173's 90 characters, so no length limit is applied.
enum Bech32 {
    private static let charset = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    private static let generator: [UInt32] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]

    private static func polymod(_ values: [UInt8]) -> UInt32 {
        var chk: UInt32 = 1
        for value in values {
            let top = chk >> 25
            chk = (chk & 0x1ffffff) << 5 ^ UInt32(value)
            for i in 0..<5 where (top >> UInt32(i)) & 1 == 1 { chk ^= generator[i] }
        }
        return chk
    }

    private static func expand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    /// Regroups bits (8 -> 5 to encode, 5 -> 8 to decode); nil when padding is invalid.
    private static func convert(_ data: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var acc = 0, bits = 0
        var result: [UInt8] = []
        let maxv = (1 << to) - 1
        for value in data {
            acc = (acc << from) | Int(value)
            bits += from
            while bits >= to {
                bits -= to
                result.append(UInt8((acc >> bits) & maxv))
            }
        }
        if pad {
            if bits > 0 { result.append(UInt8((acc << (to - bits)) & maxv)) }
        } else if bits >= from || ((acc << (to - bits)) & maxv) != 0 {
            return nil
        }
        return result
    }

    /// Lowercase bech32 of `data` with human-readable part `hrp`.
    static func encode(hrp: String, data: [UInt8]) -> String {
        let hrpBytes = Array(hrp.lowercased().utf8)
        let values = convert(data, from: 8, to: 5, pad: true)!
        let checksumInput = expand(hrpBytes) + values + [0, 0, 0, 0, 0, 0]
        let mod = polymod(checksumInput) ^ 1
        let checksum = (0..<6).map { UInt8((mod >> UInt32(5 * (5 - $0))) & 31) }
        return hrp.lowercased() + "1" + String(decoding: (values + checksum).map { charset[Int($0)] }, as: UTF8.self)
    }

    /// The human-readable part (lowercased) and data of a bech32 string, or a reason it is not one.
    static func decode(_ string: String) -> Result<(hrp: String, data: [UInt8]), Bech32Failure> {
        let bytes = Array(string.utf8)
        let hasLower = bytes.contains { $0 >= 97 && $0 <= 122 }
        let hasUpper = bytes.contains { $0 >= 65 && $0 <= 90 }
        if hasLower && hasUpper { return .failure(.mixedCase) }
        let lower = Array(string.lowercased().utf8)
        guard let separator = lower.lastIndex(of: UInt8(ascii: "1")), separator >= 1,
              lower.count - separator - 1 >= 6 else { return .failure(.noSeparator) }
        let hrp = Array(lower[..<separator])
        guard hrp.allSatisfy({ $0 >= 33 && $0 <= 126 }) else { return .failure(.badCharacter) }
        var values: [UInt8] = []
        for byte in lower[(separator + 1)...] {
            guard let index = charset.firstIndex(of: byte) else { return .failure(.badCharacter) }
            values.append(UInt8(index))
        }
        guard polymod(expand(hrp) + values) == 1 else { return .failure(.badChecksum) }
        guard let data = convert(Array(values.dropLast(6)), from: 5, to: 8, pad: false) else {
            return .failure(.badPadding)
        }
        return .success((String(decoding: hrp, as: UTF8.self), data))
    }
}

enum Bech32Failure: Error, CustomStringConvertible {
    case mixedCase, noSeparator, badCharacter, badChecksum, badPadding

    var description: String {
        switch self {
        case .mixedCase: "it mixes upper and lower case"
        case .noSeparator: "it has no bech32 separator '1' followed by a checksum"
        case .badCharacter: "it contains a character bech32 does not use"
        case .badChecksum: "its bech32 checksum is wrong (a typo, or it was cut short)"
        case .badPadding: "its bech32 data has invalid padding"
        }
    }
}
