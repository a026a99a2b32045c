import Foundation

// l2-bench: the L2 cache through the library against redis-benchmark on the same server
// (driven by scripts/bench-l2.sh), and the codecs' cost.
//
//   l2-bench codec [--rounds 5]

var mode = "codec"
var rounds = 5
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--rounds": rounds = Int(arguments.next() ?? "") ?? rounds
    default: mode = argument
    }
}
switch mode {
case "codec": try runCodec(rounds: rounds)
case "codec-loop-encode", "codec-loop-decode", "codec-loop-catalog": try runCodecLoop(mode, iterations: 1_000_000 / (mode == "codec-loop-catalog" ? 50 : 1))
default: fatalError("unknown mode \(mode); use codec")
}
