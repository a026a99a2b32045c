extension RedisConfiguration: CustomStringConvertible {
    /// The endpoint, user and database; never the password.
    public var description: String {
        var text = "redis \(endpoint)"
        if let username { text += " user \(username)" }
        if password != nil { text += " (password set)" }
        if database != 0 { text += " db \(database)" }
        return text
    }
}
