import Foundation
import PackagePlugin

/// Build tool plugin: carries the numbered migrations of `sql/` inside the module that applies
/// them, so a copied `kakunin` binary can migrate a database by itself. `sql/` stays the source
/// of truth; the generated file is rebuilt whenever a file there changes.
@main
struct EmbedSQL: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let sql = context.package.directoryURL.appending(path: "sql")
        let files = try FileManager.default.contentsOfDirectory(at: sql, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "sql" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        return [.buildCommand(displayName: "Embedding sql/ migrations",
                              executable: try context.tool(named: "kakunin-embed-sql").url,
                              arguments: [output.path] + files.map(\.path),
                              inputFiles: files, outputFiles: [output])]
    }
}
