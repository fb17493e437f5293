/// The rule of SPEC.md 2.5 that decided (first match wins).
public enum PolicyRule: String, Sendable, CaseIterable {
    case birthAfterAsOf = "2.5-1 birth date after the as-of date"
    case notQualified = "2.5-2 not a member at the as-of date"
    case application = "2.5-3 approved application"
    case notDue = "2.5-4 not due"
    case elderlyMeasure = "2.5-5 elderly transitional measure"
    case specialConsideration = "2.5-6 special consideration continues"
    case mynaUsable = "2.5-7 Myna card usable"
    case mustApply = "2.5-8 card suspended or renewing"
    case automatic = "2.5-9 issued without application"
}

/// What the policy decided for one member: outcome, every reason that applies, the dates, and
/// what the batch must do besides (void a replaced certificate, fulfil an application).
public struct Decision: Sendable, Equatable {
    public var outcome: Outcome
    public var reasons: ReasonSet
    public var rule: PolicyRule
    /// First day the member would lack a document (SPEC.md 2.5).
    public var s: LocalDate?
    public var validFrom: LocalDate?
    public var validTo: LocalDate?
    public var validityCap: ValidityCap?
    /// The application this decision fulfils.
    public var applicationID: Int64?
    /// APP_REISSUE: the certificate to void and replace.
    public var replacesCertificate: Int64?
    /// A special-consideration application fulfilled by recording the basis on this certificate.
    public var recordsConsiderationOn: Int64?
    /// The certificate is issued on or continues a special-consideration basis.
    public var specialConsideration: Bool
    /// The mail outcome it would have had, when held.
    public var heldFrom: Outcome?

    public init(outcome: Outcome, reasons: ReasonSet, rule: PolicyRule, s: LocalDate? = nil) {
        self.outcome = outcome
        self.reasons = reasons
        self.rule = rule
        self.s = s
        specialConsideration = false
    }
}

/// Receives the steps of a decision in plain words, English and Japanese side by side (see
/// `TraceStep`); the batch uses a silent one.
public protocol PolicyTracer {
    mutating func note(_ message: @autoclosure () -> String, ja japanese: @autoclosure () -> String)
}

/// Records nothing and costs nothing.
public struct SilentTracer: PolicyTracer {
    public init() {}
    @inline(__always) public mutating func note(_ message: @autoclosure () -> String, ja japanese: @autoclosure () -> String) {}
}

/// Keeps every step, for `kakunin explain` (English) and the console (Japanese).
public struct RecordingTracer: PolicyTracer {
    public var trace: [TraceStep] = []
    /// The English steps, as the CLI prints them.
    public var steps: [String] { trace.map(\.english) }
    public init() {}
    public mutating func note(_ message: @autoclosure () -> String, ja japanese: @autoclosure () -> String) {
        trace.append(TraceStep(english: message(), japanese: japanese()))
    }
}
