import ArgumentParser
import Foundation
import KakuninBatch
import KakuninCore
import KakuninRuntime
import KakuninWeb

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the web console for counter staff, auditors and operators (stops cleanly on SIGTERM).",
        discussion: """
            People log in with the accounts of `kakunin user add`. The server connects with a login \
            that is a member of kakunin_console (or the database owner) and runs each request as \
            the person's own database role, so row-level security applies to the person.
            """)

    @Option(help: "Address to listen on.") var bind: String = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port, printed at start).") var port: Int = 8080
    @Option(help: "Folder the nightly runs write their mailing files to (the reports' file checks).") var out: String = "kakunin-out"
    @Option(help: "The audit log's Ed25519 public key (PEM): the audit page verifies the latest checkpoint with it.")
    var auditPublicKey: String?
    @Option(help: "Database connections (and threads) serving requests.") var connections: Int = 6
    @Option(help: "Minutes without a request after which a session ends.") var idleMinutes: Int = 30
    @Option(help: "Hours after login after which a session ends in any case.") var absoluteHours: Int = 10
    @Flag(help: "Mark cookies Secure (when a TLS proxy serves the console).") var secureCookies = false
    @Option(help: "Seconds a connection may take to send a request head, or stay idle, before it is closed.") var idleTimeout: Int = 30
    @Option(help: "Connections open at once (more wait in the listen backlog).") var maxConnections: Int = 512
    @Option(help: "Threads checking passwords (bcrypt); default: half the cores, 1–4.") var passwordThreads: Int?
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        try runReporting {
            guard (1...64).contains(connections) else { throw OperatorError(.usage, "--connections must be 1–64") }
            guard (1...1440).contains(idleMinutes), (1...72).contains(absoluteHours) else {
                throw OperatorError(.usage, "--idle-minutes must be 1–1440 and --absolute-hours 1–72")
            }
            guard (1...3600).contains(idleTimeout), (16...65536).contains(maxConnections), (1...16).contains(passwordThreads ?? 1) else {
                throw OperatorError(.usage, "--idle-timeout must be 1–3600 seconds, --max-connections 16–65536, --password-threads 1–16")
            }
            var options = ConsoleOptions(mailRoot: URL(fileURLWithPath: out))
            options.bind = bind
            options.port = port
            options.databaseURL = database.resolvedURL
            options.auditPublicKey = auditPublicKey
            options.poolSize = connections
            options.idleMinutes = idleMinutes
            options.absoluteHours = absoluteHours
            options.secureCookies = secureCookies
            options.idleTimeoutSeconds = idleTimeout
            options.maxConnections = maxConnections
            if let passwordThreads { options.passwordThreads = passwordThreads }
            let failure = Locked<Error?>(nil)
            let done = DispatchSemaphore(value: 0)
            let opts = options
            Task {
                do {
                    try await Console.serve(opts) { address in
                        // Unbuffered: scripts and tests wait for this line to know the port.
                        FileHandle.standardOutput.write(Data("kakunin console listening on \(Serve.url(address))\n".utf8))
                    }
                } catch {
                    failure.withLock { $0 = error }
                }
                done.signal()
            }
            done.wait()
            if let error = failure.withLock({ $0 }) { throw error }
            print("kakunin console stopped")
            return .success
        }
    }

    /// "[IPv4]127.0.0.1/127.0.0.1:8080" (NIO's form) as http://127.0.0.1:8080/.
    static func url(_ address: String) -> String {
        let hostPort = address.split(separator: "/").last.map(String.init) ?? address
        return "http://\(hostPort.replacingOccurrences(of: "[IPv4]", with: ""))/"
    }
}

struct User: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The web console's people (run by the database owner).",
        subcommands: [Add.self, List.self, Disable.self, Enable.self, Unlock.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a person; the password is read from standard input (one line).")
        @Argument(help: "User name: 2–32 lower-case letters, digits or _.") var name: String
        @Option(help: "counter, auditor, operator or admin.") var role: String
        @Option(help: "Insurer number a counter person works for (repeat for several).", transform: InsurerNumber.argument) var insurer:
            [InsurerNumber] = []
        @Option(help: "bcrypt cost, 10–15.") var bcryptCost: Int = 12
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                guard let r = ConsoleUsers.Role(rawValue: role) else {
                    throw OperatorError(.usage, "unknown role \(role)", fix: "use counter, auditor, operator or admin")
                }
                let password: String
                if isatty(0) != 0 {
                    guard let p = getpass("Password for \(name): ") else { throw OperatorError(.usage, "no password given") }
                    password = String(cString: p)
                } else {
                    password = readLine(strippingNewline: true) ?? ""
                }
                try ConsoleUsers(db: try database.connect()).add(
                    name: name, role: r, insurers: insurer, password: password,
                    cost: bcryptCost, person: counterPerson())
                print(
                    "user \(name) added (\(r.rawValue)\(insurer.isEmpty ? "" : ", insurers " + insurer.map(\.text).joined(separator: ", ")))"
                )
                return .success
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the console's people.")
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let users = try ConsoleUsers(db: try database.connect()).list()
                printTable(
                    ["user", "role", "insurers", "created", "last_login", "disabled", "locked"],
                    users.map {
                        [
                            $0.name, $0.role, $0.insurers.joined(separator: ","), $0.created, $0.lastLogin, $0.disabled,
                            $0.locked ? "yes" : nil,
                        ]
                    })
                return .success
            }
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a person and end their sessions (never the last enabled admin).")
        @Argument(help: "User name.") var name: String
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                try ConsoleUsers(db: try database.connect()).disable(name: name, person: counterPerson())
                print("user \(name) disabled; their sessions ended")
                return .success
            }
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a disabled person log in again.")
        @Argument(help: "User name.") var name: String
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                try ConsoleUsers(db: try database.connect()).enable(name: name, person: counterPerson())
                print("user \(name) enabled")
                return .success
            }
        }
    }

    struct Unlock: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Clear the failed logins that lock a name (5 within 15 minutes lock it for the rest of that time).")
        @Argument(help: "User name.") var name: String
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                try ConsoleUsers(db: try database.connect()).unlock(name: name, person: counterPerson())
                print("user \(name) unlocked")
                return .success
            }
        }
    }
}
