/// [2026-12] The sheet a certificate is printed on (SPEC.md 5.1, parameter
/// `certificate_format`): the vendor file and the manifest state it, and the counter's print
/// view prints one sheet of it, every printed field included.
public enum CertificateFormat: String, Sendable, CaseIterable {
    /// 85.6 × 54 mm, the size of the former insurance card (the default).
    case card
    /// 148 × 100 mm (はがき, landscape).
    case hagaki
    /// 210 × 297 mm.
    case a4

    /// Also the print view's older name for a postcard (`postcard`).
    public init?(name: String) {
        if name == "postcard" { self = .hagaki } else { self.init(rawValue: name) }
    }

    /// Width and height in millimetres, as CSS lengths.
    public var size: (width: String, height: String) {
        switch self {
        case .card: return ("85.6mm", "54mm")
        case .hagaki: return ("148mm", "100mm")
        case .a4: return ("210mm", "297mm")
        }
    }

    /// As the manifest states it: `85.6x54mm`.
    public var sizeText: String { "\(size.width.dropLast(2))x\(size.height)" }

    /// The print's base font size: small enough that the longest fields the limits allow
    /// (`max_chars.*`), the copay line and every optional entry fit on one sheet (tested by
    /// printing to PDF in Chromium).
    public var fontSize: String {
        switch self {
        case .card: return "5.8pt"
        case .hagaki: return "9pt"
        case .a4: return "12pt"
        }
    }
}
