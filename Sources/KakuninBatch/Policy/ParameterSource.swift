import Crypto
import Foundation
import KakuninCore
import KakuninRuntime

/// The parameters a decision is made with and where they came from: a version of the insurer's
/// parameters in the database (SPEC.md 2.6), identified by its id and the SHA-256 of its listing.
public struct LoadedParameters: Sendable {
    public let parameters: InsurerParameters
    /// `parameter version 3 of insurer 131016, effective from 2026-04-01`.
    public let source: String
    /// SHA-256 of the listing (runs before parameter versions: of the file they read).
    public let sha256: String
    /// The version's id; nil for what a run recorded before parameter versions existed.
    public let versionID: Int?

    public init(parameters: InsurerParameters, source: String, sha256: String, versionID: Int?) {
        self.parameters = parameters
        self.source = source
        self.sha256 = sha256
        self.versionID = versionID
    }

    /// What a run recorded before parameter versions (insurer_parameters.parameters).
    public static func fromListing(_ jsonText: String, source: String, sha256: String) throws -> LoadedParameters {
        guard let obj = try JSONSerialization.jsonObject(with: Data(jsonText.utf8)) as? [String: String] else {
            throw OperatorError(.internalError, "the recorded parameters are not a JSON object of strings")
        }
        let text = obj.filter { !$0.value.isEmpty }.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: "\n")
        let p = try ParameterFile.parse(text, file: "recorded parameters \(sha256.prefix(12))")
        return LoadedParameters(parameters: p, source: source, sha256: sha256, versionID: nil)
    }

    /// The canonical listing of parameters: one `key = value` line (newline-terminated) for every
    /// parameter that has a value, in the order of `InsurerParameters.listing`. It is itself a
    /// parameter file; a version's SHA-256 is of these bytes.
    public static func canonicalListing(_ p: InsurerParameters) -> String {
        p.listing.filter { !$0.1.isEmpty }.map { "\($0.0) = \($0.1)\n" }.joined()
    }

    public static func sha256(_ text: String) -> String { hex(SHA256.hash(data: Data(text.utf8))) }
}
