import Foundation

/// An access key pair (and session token) for SigV4. `description` never shows the secret or the token.
public struct S3Credentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// Where they came from, for messages: "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" or "<file> [profile]".
    public var source: String

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil, source: String) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
    }

    public var description: String {
        "access key \(accessKeyId), secret ****\(sessionToken == nil ? "" : ", session token ****") (from \(source))"
    }

    /// Resolves credentials the way the AWS CLI does, from values read once by the caller:
    /// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`) when both are set; otherwise the
    /// INI credentials file (`credentialsFile`, else `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`)
    /// and profile (`profile`, else `AWS_PROFILE`, else `default`).
    public static func resolve(environment: [String: String], credentialsFile: String? = nil,
                               profile: String? = nil, home: String) throws(ObjectStoreError) -> S3Credentials {
        let key = environment["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let secret = environment["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        if credentialsFile == nil && profile == nil {
            switch (key, secret) {
            case let (key?, secret?):
                let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
                return S3Credentials(accessKeyId: key, secretAccessKey: secret, sessionToken: token,
                                     source: "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
            case (_?, nil):
                throw ObjectStoreError(.credentials, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or unset both to use a credentials file")
            case (nil, _?):
                throw ObjectStoreError(.credentials, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both, or unset both to use a credentials file")
            case (nil, nil):
                break
            }
        }
        let path = credentialsFile ?? environment["AWS_SHARED_CREDENTIALS_FILE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "\(home)/.aws/credentials"
        let profileName = profile ?? environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ObjectStoreError(.credentials, "no S3 credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set and the credentials file \(path) cannot be read (\((error as NSError).localizedDescription)); set remote.credentials-file or the AWS_* variables")
        }
        let sections = parseINI(text)
        guard let section = sections[profileName] else {
            let known = sections.keys.sorted().joined(separator: ", ")
            throw ObjectStoreError(.credentials, "credentials file \(path) has no profile [\(profileName)] (it has: \(known.isEmpty ? "none" : known))")
        }
        guard let id = section["aws_access_key_id"], !id.isEmpty else {
            throw ObjectStoreError(.credentials, "credentials file \(path) profile [\(profileName)] has no aws_access_key_id")
        }
        guard let secretKey = section["aws_secret_access_key"], !secretKey.isEmpty else {
            throw ObjectStoreError(.credentials, "credentials file \(path) profile [\(profileName)] has no aws_secret_access_key")
        }
        return S3Credentials(accessKeyId: id, secretAccessKey: secretKey, sessionToken: section["aws_session_token"],
                             source: "\(path) [\(profileName)]")
    }

    /// `[name]` sections of `key = value` lines; `#` and `;` comments; the AWS config file's `[profile name]` form too.
    static func parseINI(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                var name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                if name.hasPrefix("profile ") { name = String(name.dropFirst(8)).trimmingCharacters(in: .whitespaces) }
                current = name
                sections[name, default: [:]] = sections[name, default: [:]]
                continue
            }
            guard let current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[current]?[key] = value
        }
        return sections
    }
}
