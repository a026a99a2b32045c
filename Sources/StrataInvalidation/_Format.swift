extension Duration {
    /// `250ms`, `1.5s`: for log lines.
    var _logText: String {
        let ms = Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
        return ms >= 1000 ? "\((ms / 100).rounded() / 10)s" : "\(Int(ms.rounded()))ms"
    }
}
