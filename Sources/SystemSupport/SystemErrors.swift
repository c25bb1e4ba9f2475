#if canImport(Glibc)
import Glibc
#endif

/// The C library's text for an errno value ("No such file or directory"), for error messages.
public func errnoDescription(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
