import Testing
@testable import StrataInvalidation
