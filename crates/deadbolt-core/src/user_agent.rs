//! What a person reads about a device: "Firefox on Linux", from a User-Agent header. The words
//! come from a fixed list only, never from the header itself: the header is whatever the client
//! chose to send, and a security email must not repeat an attacker's text to its victim.

/// Browsers, by a token of their User-Agent, in the order that tells them apart (Edge and Opera
/// also say Chrome; Chrome also says Safari).
const BROWSERS: [(&str, &str); 11] = [
    ("Edg/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("okhttp/", "an Android app"),
];

/// Systems, likewise (Android also says Linux; iOS also says Mac OS X).
const SYSTEMS: [(&str, &str); 8] = [
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
];

/// "Firefox on Linux", "Safari on iPhone", "an unrecognised browser on Windows", ...
pub fn describe(user_agent: &str) -> String {
    let find = |list: &[(&str, &'static str)]| {
        list.iter()
            .find(|(token, _)| user_agent.contains(token))
            .map(|(_, name)| *name)
    };
    let browser = find(&BROWSERS).unwrap_or("an unrecognised browser");
    match find(&SYSTEMS) {
        Some(system) => format!("{browser} on {system}"),
        None => browser.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn names_common_browsers_and_systems() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "Safari on macOS"),
            ("curl/8.5.0", "curl"),
        ];
        for (ua, expected) in cases {
            assert_eq!(describe(ua), expected, "{ua}");
        }
    }

    #[test]
    fn never_repeats_what_the_client_wrote() {
        let hostile = "Click https://evil.example/reset to keep your account <b>now</b>";
        let said = describe(hostile);
        assert_eq!(said, "an unrecognised browser");
        assert_eq!(describe(""), "an unrecognised browser");
        assert_eq!(
            describe("Windows https://evil.example"),
            "an unrecognised browser on Windows"
        );
    }
}
