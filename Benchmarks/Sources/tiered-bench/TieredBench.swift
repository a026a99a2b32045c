// Tiered and authorization cache benchmarks against the running dev servers.
//
//   swift build -c release --package-path Benchmarks --scratch-path .build-tiered-bench
//   .build-tiered-bench/release/tiered-bench hit|authz|all [--rounds 7] [--users 10000] [--checks 300000] ...
//
// scripts/bench-tiered.sh seeds the schema, builds and runs both, and writes the markdown.
// Environment: BENCH_PG_URL (the seeded database), STRATA_REDIS_URL.
import Foundation

@main
struct TieredBench {
    static func main() async {
        do {
            let options = try Options()
            var lines: [String] = []
            if options.mode == "hit" || options.mode == "all" { lines += try await runHitBench(options) }
            if options.mode == "authz" || options.mode == "all" { lines += try await runAuthzBench(options) }
            if let out = ProcessInfo.processInfo.environment["BENCH_OUT"] {
                try (lines.joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8)
            }
        } catch {
            FileHandle.standardError.write(Data("tiered-bench: \(error)\n".utf8))
            exit(1)
        }
    }
}
