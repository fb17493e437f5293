import Foundation
import PackagePlugin

/// Build tool plugin: carries data files of the package inside the module that reads them, so a
/// copied `kakunin` binary needs nothing beside it. The folders stay the source of truth; the
/// generated file is rebuilt whenever a file there changes.
/// - `KakuninStore`: the numbered migrations of `sql/` (`EmbeddedMigrations`).
/// - `KakuninCore`: the member letter's texts of `Sources/KakuninCore/Letters/Texts/`, one file per language (`EmbeddedLetters`).
/// - `KakuninWeb`: the console's mustache templates and stylesheet of `Sources/KakuninWeb/Templates/` (`EmbeddedTemplates`).
@main
struct EmbedSQL: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let (folder, extensions, name) = Self.embedded(for: target.name)
        let dir = context.package.directoryURL.appending(path: folder)
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { extensions.contains($0.pathExtension) }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "\(name).swift")
        return [
            .buildCommand(
                displayName: "Embedding \(folder)/ into \(name)",
                executable: try context.tool(named: "kakunin-embed-sql").url,
                arguments: [output.path, "--enum", name] + files.map(\.path),
                inputFiles: files, outputFiles: [output])
        ]
    }

    /// The folder a target embeds, the file extensions taken from it, and the generated enum's name.
    static func embedded(for target: String) -> (folder: String, extensions: Set<String>, name: String) {
        switch target {
        case "KakuninCore": return ("Sources/KakuninCore/Letters/Texts", ["txt"], "EmbeddedLetters")
        case "KakuninWeb": return ("Sources/KakuninWeb/Templates", ["mustache", "css"], "EmbeddedTemplates")
        default: return ("sql", ["sql"], "EmbeddedMigrations")
        }
    }
}
