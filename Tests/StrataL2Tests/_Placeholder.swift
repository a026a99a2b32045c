// StrataL2Tests
