import Foundation
import StrataMem

// l1-bench: hit ratio on the shared traces, workloads the policy was not tuned on,
// cost against a locked Dictionary, and memory per entry.
//
//   l1-bench [all|hit-ratio|workloads|cost|memory|scale|hitloop|hitloop-1k] [--bench-dir PATH] [--capacities 100,1000,10000]
//            [--keys 1000,100000] [--rounds 25]   (scale)

var mode = "all"
var benchDirOverride: String?
var capacities = [100, 1000, 10000]
var scaleKeys = [1_000, 100_000]
var scaleRounds = 25
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--bench-dir": benchDirOverride = arguments.next()
    case "--capacities": capacities = (arguments.next() ?? "").split(separator: ",").compactMap { Int($0) }
    case "--keys": scaleKeys = (arguments.next() ?? "").split(separator: ",").compactMap { Int($0) }
    case "--rounds": scaleRounds = max(1, Int(arguments.next() ?? "") ?? 25)
    default: mode = argument
    }
}
let benchDir = benchDirectory(benchDirOverride)
if mode == "all" || mode == "hit-ratio" { try runHitRatio(benchDir: benchDir, capacities: capacities) }
if mode == "all" || mode == "workloads" { runWorkloads() }
if mode == "all" || mode == "cost" { runCost() }
if mode == "all" || mode == "memory" { runMemory() }
if mode == "hitloop" {  // for profilers and quick comparisons, not part of "all"
    runHitLoop(shards: nil)
    runHitLoop(shards: 1)
    runHitLoop(shards: nil, keyCount: 1_000)
}
if mode == "scale" { runScale(keyCounts: scaleKeys, rounds: scaleRounds) }  // read scaling, not part of "all"
if mode == "hitloop-1k" { runHitLoop(shards: nil, keyCount: 1_000) }
