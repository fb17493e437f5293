import ArgumentParser
import KakuninBatch
import KakuninRuntime

@main
struct Kakunin: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kakunin",
        abstract: "Certificates of Eligibility (資格確認書) for Japanese health insurers: import feeds, decide, issue, mail, audit.",
        discussion: """
            Connects to PostgreSQL from the PG* environment (PGHOST, PGPORT, PGDATABASE, PGUSER, \
            PGPASSWORD) or --database-url.

            Exit statuses (the same for every command):

            """ + ExitStatus.plainList,
        version: KakuninVersion.string,
        subcommands: [
            DB.self, Import.self, Imports.self, Generate.self, Run.self, Runs.self, Report.self, Replay.self, Export.self, Explain.self,
            Insurer.self, Member.self, Application.self, Certificate.self, Notice.self, Consideration.self, Counter.self, Staff.self,
            Audit.self, Serve.self, User.self, Letters.self, Archive.self,
        ]
    )
}
