import Foundation
import KakuninCore

/// The member letter as printable HTML (SPEC.md 5.2): A4, one page per letter, self-contained
/// (no file, font or script fetched), with font families a vendor can map: the Noto families
/// Debian packages (fonts-noto-core, fonts-noto-cjk). The same page serves the vendor's file of
/// a language, the counter's print and the console.
public enum LetterHTML {
    /// Font families for a letter language, first choice first. Names as printed are often in
    /// Japanese script, so every list ends with the Japanese CJK face.
    public static func fontFamilies(_ language: String) -> [String] {
        switch language {
        case "ja": return ["Noto Sans CJK JP", "Noto Sans"]
        case "zh": return ["Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans"]
        case "ko": return ["Noto Sans CJK KR", "Noto Sans CJK JP", "Noto Sans"]
        case "th": return ["Noto Sans Thai", "Noto Sans", "Noto Sans CJK JP"]
        case "ne": return ["Noto Sans Devanagari", "Noto Sans", "Noto Sans CJK JP"]
        default: return ["Noto Sans", "Noto Sans CJK JP"]
        }
    }

    static func fontCSS(_ language: String) -> String {
        (fontFamilies(language).map { "\"\($0)\"" } + ["sans-serif"]).joined(separator: ", ")
    }

    /// The document's head: styles for A4 pages, fonts of each language it may hold, and the
    /// translation's state (who produced and reviewed the texts) as meta fields.
    public static func head(language: String, title: String) -> String {
        let languages = language.split(separator: "+").map(String.init)
        let first = languages.first ?? LetterCatalog.reference
        var s = "<!DOCTYPE html>\n<html lang=\"\(escape(first))\">\n<head>\n<meta charset=\"utf-8\">\n<title>\(escape(title))</title>\n"
        for l in languages {
            let header = LetterCatalog.texts[l]?.header ?? [:]
            for field in ["produced_by", "reviewed_by", "reviewed_on"] {
                s +=
                    "<meta name=\"kakunin-letters-\(l)-\(field.replacingOccurrences(of: "_", with: "-"))\" content=\"\(escape(header[field] ?? ""))\">\n"
            }
        }
        s += "<style>\n@page { size: A4; margin: 14mm 16mm; }\n"
        s += "html, body { margin: 0; padding: 0; color: #000; background: #fff; }\n"
        s += "body { font-family: \(fontCSS(first)); font-size: 10pt; line-height: 1.45; }\n"
        for l in LetterCatalog.languages { s += "[lang=\"\(l)\"] { font-family: \(fontCSS(l)); }\n" }
        s += """
            .letter { width: 178mm; min-height: 260mm; box-sizing: border-box; page-break-after: always; break-after: page; padding: 0; }
            .letter:last-child { page-break-after: auto; break-after: auto; }
            .ref { font-size: 7.5pt; color: #444; margin: 0 0 3mm; }
            h1 { font-size: 14pt; margin: 0 0 3mm; line-height: 1.3; }
            h2 { font-size: 10.5pt; margin: 3mm 0 1mm; border-bottom: 0.3mm solid #000; }
            p { margin: 0 0 1.5mm; }
            ul { margin: 0 0 1.5mm; padding-left: 5mm; }
            .second { font-size: 9pt; color: #222; }
            .bilingual { font-size: 8.5pt; line-height: 1.32; }
            .bilingual h1 { font-size: 12pt; margin-bottom: 1.5mm; } .bilingual h2 { font-size: 9pt; margin-top: 2mm; }
            .bilingual .second { font-size: 7.8pt; } .bilingual p, .bilingual ul { margin-bottom: 1mm; }
            .footer { font-size: 8pt; margin-top: 3mm; border-top: 0.2mm solid #888; padding-top: 1mm; }
            @media screen { .letter { margin: 8mm auto; padding: 14mm 16mm; border: 1px solid #bbb; width: 210mm; min-height: 297mm; } }
            </style>
            </head>
            <body>

            """
        return s
    }

    public static let tail = "</body>\n</html>\n"

    /// One letter as a page; `reference` is the line of identifiers at its top (envelope,
    /// member, document) that the enclosing line matches with the envelope. The page's language
    /// is its section's; only a bilingual letter marks the language of each part (its second).
    public static func page(_ letter: MemberLetter, reference: String) -> String {
        pageStart(language: letter.language, reference: escape(reference))
            + letter.sections.indices.map { section(letter, $0) }.joined() + pageEnd(language: letter.language)
    }

    /// A page's opening up to its reference line (`reference` already escaped), for a letter
    /// in `language` (`pt`, `ja+en`).
    static func pageStart(language: String, reference: String) -> String {
        let languages = language.split(separator: "+")
        return
            "<section class=\"letter\(languages.count > 1 ? " bilingual" : "")\" lang=\"\(escape(languages.first.map(String.init) ?? "ja"))\">\n"
            + "<p class=\"ref\">\(reference)</p>\n"
    }

    /// The page's part for the letter's `index`th section: its heading, then its paragraphs or
    /// list. The same for every member with the same paragraph (inserts.csv refers to it).
    public static func section(_ letter: MemberLetter, _ index: Int) -> String {
        let section = letter.sections[index]
        var s = headingKey(section.section).map { "<h2>\(headings(letter, $0))</h2>\n" } ?? ""
        for (i, sentences) in section.texts.enumerated() where !sentences.isEmpty {
            s += block(section.section, sentences, attributes: attributes(letter, i))
        }
        return s
    }

    /// The page's footer in each of the letter's languages, and its end.
    static func pageEnd(language: String) -> String {
        let languages = language.split(separator: "+").map(String.init)
        var s = ""
        for (i, l) in languages.enumerated() {
            if let footer = LetterCatalog.texts[l]?["footer"] {
                s +=
                    "<p class=\"footer\(i > 0 ? " second" : "")\"\(languages.count > 1 ? " lang=\"\(escape(l))\"" : "")>\(escape(footer))</p>\n"
            }
        }
        return s + "</section>\n"
    }

    /// The attributes of the `i`th language's part of a paragraph: none in a letter of one language.
    private static func attributes(_ letter: MemberLetter, _ i: Int) -> String {
        letter.languages.count > 1 ? " lang=\"\(escape(letter.languages[i]))\"\(i > 0 ? " class=\"second\"" : "")" : ""
    }

    private static func headingKey(_ s: MemberLetter.Section) -> String? {
        switch s {
        case .why: return "heading.why"
        case .validity: return "heading.validity"
        case .nextSteps: return "heading.next"
        case .insurerContact: return "heading.contact"
        case .helpLines: return "heading.help"
        case .title, .greeting, .whatItIs: return nil
        }
    }

    /// A heading in each of the letter's languages, the second smaller.
    private static func headings(_ letter: MemberLetter, _ key: String) -> String {
        if letter.languages.count == 1 { return escape(LetterCatalog.texts[letter.languages[0]]?[key] ?? "") }
        return letter.languages.enumerated().compactMap { i, l in
            LetterCatalog.texts[l]?[key].map { "<span\(attributes(letter, i))>\(escape($0))</span>" }
        }.joined(separator: " / ")
    }

    private static func block(_ section: MemberLetter.Section, _ sentences: [String], attributes attrs: String) -> String {
        switch section {
        case .title: return "<h1\(attrs)>\(escape(sentences.joined(separator: " ")))</h1>\n"
        case .nextSteps:
            return "<ul\(attrs)>\n" + sentences.map { "<li>\(escape($0))</li>\n" }.joined() + "</ul>\n"
        case .helpLines:
            return "<p\(attrs)>\(escape(sentences[0]))</p>\n<ul\(attrs)>\n"
                + sentences.dropFirst().map { "<li>\(escape($0))</li>\n" }.joined() + "</ul>\n"
        default: return "<p\(attrs)>\(escape(MemberLetter.join(sentences)))</p>\n"
        }
    }

    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// `bytes` (UTF-8) escaped as `escape` does, appended to `out`.
    static func escape(_ bytes: [UInt8], to out: inout [UInt8]) {
        for b in bytes {
            switch b {
            case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\""): out.append(contentsOf: "&quot;".utf8)
            default: out.append(b)
            }
        }
    }

    /// A whole document of one letter (the counter's print).
    public static func document(_ letter: MemberLetter, reference: String) -> String {
        head(language: letter.language, title: reference) + page(letter, reference: reference) + tail
    }
}
