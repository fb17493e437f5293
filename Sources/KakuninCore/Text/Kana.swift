import Foundation

/// Kana as staff type it: half-width katakana (ｶﾀｶﾅ, with ﾞ and ﾟ) becomes full-width; hiragana
/// becomes katakana; spaces are kept for display and dropped for matching.
public enum Kana {
    private static let halfWidth: [Unicode.Scalar: Unicode.Scalar] = {
        let half = Array("ｦｧｨｩｪｫｬｭｮｯｰｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ･".unicodeScalars)
        let full = Array("ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン・".unicodeScalars)
        return Dictionary(uniqueKeysWithValues: zip(half, full).map { ($0, $1) })
    }()

    public static func normalise(_ text: String) -> String {
        var out: [Unicode.Scalar] = []
        for u in text.trimmingCharacters(in: .whitespaces).unicodeScalars {
            if u == "\u{FF9E}" || u == "\u{FF9F}" || u == "\u{3099}" || u == "\u{309A}" || u == "\u{309B}" || u == "\u{309C}" {
                // Voiced / semi-voiced mark: combine with the kana before it (ｶ + ﾞ = ガ).
                let semi = u == "\u{FF9F}" || u == "\u{309A}" || u == "\u{309C}"
                if let last = out.last, let combined = voiced(last, semi: semi) { out[out.count - 1] = combined }
                continue
            }
            if let full = halfWidth[u] {
                out.append(full)
                continue
            }
            if (0x3041...0x3096).contains(u.value) {
                out.append(Unicode.Scalar(u.value + 0x60)!)
                continue
            }  // hiragana → katakana
            if u == " " {
                out.append("\u{3000}")
                continue
            }
            out.append(u)
        }
        return String(String.UnicodeScalarView(out))
    }

    private static func voiced(_ k: Unicode.Scalar, semi: Bool) -> Unicode.Scalar? {
        let v = k.value
        if semi { return v >= 0x30CF && v <= 0x30DB && (v - 0x30CF) % 3 == 0 ? Unicode.Scalar(v + 2) : nil }
        if v == 0x30A6 { return "\u{30F4}" }  // ウ゛ = ヴ
        if v >= 0x30AB && v <= 0x30C1 { return (v - 0x30AB) % 2 == 0 ? Unicode.Scalar(v + 1) : nil }  // カ…チ
        if v == 0x30C4 || v == 0x30C6 || v == 0x30C8 { return Unicode.Scalar(v + 1) }  // ツ テ ト
        if v >= 0x30CF && v <= 0x30DB && (v - 0x30CF) % 3 == 0 { return Unicode.Scalar(v + 1) }  // ハ…ホ
        return nil
    }

    /// The least string above every string that starts with `prefix`, byte-wise (UTF-8 keeps
    /// code point order): the prefix with its last character moved one up.
    public static func upperBound(_ prefix: String) -> String {
        var scalars = Array(prefix.unicodeScalars)
        guard let last = scalars.popLast() else { return "\u{10FFFF}" }
        guard let next = Unicode.Scalar(last.value + 1) else { return prefix + "\u{10FFFF}" }
        scalars.append(next)
        return String(String.UnicodeScalarView(scalars))
    }
}
