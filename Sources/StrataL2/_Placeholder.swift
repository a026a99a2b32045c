// StrataL2
