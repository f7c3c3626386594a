import ArgumentParser

/// The command line as people type it, made into what ArgumentParser reads:
/// global options before the subcommand (`warden --database URL import FILE`) move
/// after it, and a mistyped command is answered with the nearest real one.
enum CommandLineArguments {
    /// Options every subcommand takes (`GlobalOptions`), each with a value.
    static let globalOptions: Set<String> = ["--config", "--database", "--key-encryption-key-file"]
    /// Words people reach for that mean a command of another name.
    static let synonyms = ["add": "create", "new": "create", "ls": "list", "rm": "delete", "remove": "delete", "del": "delete"]

    /// `arguments` without the program name, with leading global options moved after the
    /// subcommand's words (and before any other option or `--`).
    static func hoisted(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first, globalOptions.contains(String(first.prefix { $0 != "=" })) {
            leading.append(first)
            rest = rest.dropFirst()
            if !first.contains("="), let value = rest.first {
                leading.append(value)
                rest = rest.dropFirst()
            }
        }
        let words = rest.prefix { !$0.hasPrefix("-") }
        return Array(words) + leading + Array(rest.dropFirst(words.count))
    }

    /// A command's name and its subcommands, read once from ArgumentParser's configuration.
    struct Command {
        let name: String
        let children: [Command]

        init(_ type: any ParsableCommand.Type) {
            let configuration = type.configuration
            name = type._commandName
            children = configuration.subcommands.map { Command($0) }
        }
    }

    /// A one-line hint when the words name no command: `clients add` → `clients create`.
    static func suggestion(for arguments: [String], in root: Command) -> String? {
        var command = root
        var path = [root.name]
        for word in arguments.prefix(while: { !$0.hasPrefix("-") }) {
            if word == "help" { return nil }  // ArgumentParser's own `help` command
            guard !command.children.isEmpty else { return nil }
            if let child = command.children.first(where: { $0.name == word }) {
                command = child
                path.append(word)
                continue
            }
            let names = command.children.map { $0.name }
            let synonym = synonyms[word].flatMap { names.contains($0) ? $0 : nil }
            guard let nearest = synonym ?? nearest(to: word, among: names) else {
                return "\(path.joined(separator: " ")) has no command '\(word)'; the commands are: \(names.joined(separator: ", "))"
            }
            return "\(path.joined(separator: " ")) has no command '\(word)'; did you mean '\((path + [nearest]).joined(separator: " "))'?"
        }
        return nil
    }

    /// The name closest to `word` by edit distance, if it is close (at most 2 edits, or a prefix).
    static func nearest(to word: String, among names: [String]) -> String? {
        let scored = names.map { ($0, distance(word, $0)) }.min { $0.1 < $1.1 }
        if let (name, score) = scored, score <= 2 { return name }
        return names.first { $0.hasPrefix(word) || word.hasPrefix($0) }
    }

    /// Levenshtein distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let (a, b) = (Array(a), Array(b))
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}
