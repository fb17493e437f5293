import Crypto
import Foundation
import KakuninCore

/// The parameters a run uses and where they came from: the provenance recorded with every
/// decision (file path and SHA-256 of its bytes, or "defaults").
public struct LoadedParameters: Sendable {
    public let parameters: InsurerParameters
    /// `jobs/insurers/131016.conf`, or `defaults (no parameter file for 131016)`.
    public let source: String
    /// SHA-256 of the file's bytes; for defaults, of the canonical listing of the defaults.
    public let sha256: String
    public let isDefault: Bool

    /// Every parameter with its value, as a JSON object (what insurer_parameters keeps).
    public var listingJSON: String { json(Dictionary(uniqueKeysWithValues: parameters.listing)) }

    /// The parameters a run recorded (insurer_parameters.parameters), for replay.
    public static func fromListing(_ jsonText: String, source: String, sha256: String) throws -> LoadedParameters {
        guard let obj = try JSONSerialization.jsonObject(with: Data(jsonText.utf8)) as? [String: String] else {
            throw OperatorError(.internalError, "the recorded parameters are not a JSON object of strings")
        }
        let text = obj.filter { !$0.value.isEmpty }.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: "\n")
        let p = try ParameterFile.parse(text, file: "recorded parameters \(sha256.prefix(12))")
        return LoadedParameters(parameters: p, source: source, sha256: sha256, isDefault: false)
    }

    /// Finds and validates `<dir>/<insurer>.conf`; none there means the defaults of SPEC.md 2.6.
    public static func load(insurer: String, directory: URL, asOf: LocalDate) throws -> LoadedParameters {
        let url = directory.appendingPathComponent("\(insurer).conf")
        guard FileManager.default.fileExists(atPath: url.path) else {
            let p = InsurerParameters()
            let canonical = p.listing.map { "\($0.0)=\($0.1)" }.joined(separator: "\n")
            return LoadedParameters(parameters: p, source: "defaults (no parameter file \(url.path))",
                                    sha256: hex(SHA256.hash(data: Data(canonical.utf8))), isDefault: true)
        }
        let data = try Data(contentsOf: url)
        guard let text = String(data: data, encoding: .utf8) else {
            throw OperatorError(.badConfiguration, "\(url.path) is not UTF-8", fix: "save the parameter file as UTF-8")
        }
        do {
            let p = try ParameterFile.parse(text, file: url.path)
            try ParameterFile.validate(p, for: asOf, file: url.path)
            return LoadedParameters(parameters: p, source: url.path, sha256: hex(SHA256.hash(data: data)), isDefault: false)
        } catch let e as ParameterError {
            throw OperatorError(.badConfiguration, "bad parameter file: \(e.file)\(e.line.map { ":\($0)" } ?? ""): \(e.parameter ?? ""): \(e.problem)", fix: e.fix)
        }
    }

    /// The folder of parameter files: --params-dir, $KAKUNIN_PARAMS_DIR, else jobs/insurers
    /// above the executable (a checkout's build), else ./jobs/insurers.
    public static func directory(_ option: String?) -> URL {
        if let option { return URL(fileURLWithPath: option) }
        if let env = ProcessInfo.processInfo.environment["KAKUNIN_PARAMS_DIR"] { return URL(fileURLWithPath: env) }
        let fm = FileManager.default
        let exe = URL(fileURLWithPath: (try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = dir.appendingPathComponent("jobs/insurers")
            if fm.fileExists(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: "jobs/insurers")
    }
}

func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
    digest.map { String(format: "%02x", $0) }.joined()
}

import KakuninStore
