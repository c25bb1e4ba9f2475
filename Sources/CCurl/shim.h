#ifndef CCURL_SHIM_H
#define CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic: Swift cannot call them, so one typed wrapper per kind. */
static inline CURLcode etcdconsole_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode etcdconsole_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode etcdconsole_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode etcdconsole_curl_setopt_off(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}
typedef size_t (*etcdconsole_curl_io_callback)(char *buffer, size_t size, size_t count, void *userdata);
static inline CURLcode etcdconsole_curl_setopt_io(CURL *handle, CURLoption option, etcdconsole_curl_io_callback value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode etcdconsole_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
#endif
