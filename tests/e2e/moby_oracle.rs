//! The Docker door's body reader against dockerd's own: `tests/oracle/moby`, a Go program
//! built with Debian's Go 1.19 (the Go that builds Debian's dockerd 20.10.24) and moby's
//! own request types and decoding functions, decodes every body these tests generate; the
//! engine's reader must produce the same bytes (Go's `json.Marshal` of the decoded values)
//! or refuse exactly the bodies Go refuses.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use portcullis::docker::gojson::schema::{Kind, TypeId};
use portcullis::docker::gojson::{GoJson, Schema};
use portcullis::docker::moby::{self, BodyKind};

use crate::support::workspace;

const GOPATH: &str = "/usr/share/gocode";

/// Builds the oracle once per test run (GOPATH mode: no network, moby from Debian).
fn oracle() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let go = PathBuf::from("/usr/bin/go");
            assert!(
                go.exists(),
                "go is not installed: the differential tests need Debian's golang-go \
                 (apt-get install golang-go golang-github-docker-docker-dev)"
            );
            assert!(
                PathBuf::from(GOPATH)
                    .join("src/github.com/docker/docker/runconfig")
                    .exists(),
                "moby's Go sources are not installed: apt-get install \
                 golang-github-docker-docker-dev"
            );
            let out_dir = workspace().join("target/oracle");
            std::fs::create_dir_all(&out_dir).unwrap();
            let binary = out_dir.join("moby-oracle");
            let status = Command::new(go)
                .args(["build", "-o"])
                .arg(&binary)
                .arg("./tests/oracle/moby")
                .current_dir(workspace())
                .env("GOPATH", GOPATH)
                .env("GO111MODULE", "off")
                .env("GOFLAGS", "")
                .env("GOCACHE", out_dir.join("gocache"))
                .status()
                .expect("go build runs");
            assert!(status.success(), "building tests/oracle/moby failed");
            binary
        })
        .clone()
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Ok(String),
    Refused,
}

/// Decodes every (kind, body) with the oracle, streaming.
fn go_decode(bodies: &[(BodyKind, Vec<u8>)]) -> Vec<Outcome> {
    let mut child = Command::new(oracle())
        .arg("decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the oracle starts");
    let mut stdin = child.stdin.take().unwrap();
    let frames: Vec<u8> = bodies
        .iter()
        .flat_map(|(kind, body)| {
            let mut frame = format!("{} {}\n", kind.name(), body.len()).into_bytes();
            frame.extend_from_slice(body);
            frame
        })
        .collect();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&frames).unwrap();
    });
    let reader = BufReader::new(child.stdout.take().unwrap());
    let mut outcomes = Vec::with_capacity(bodies.len());
    for line in reader.lines() {
        let line = line.unwrap();
        outcomes.push(match line.split_once(' ') {
            Some(("ok", json)) => Outcome::Ok(json.to_string()),
            Some(("err", _)) => Outcome::Refused,
            _ => panic!("oracle said {line:?}"),
        });
    }
    writer.join().unwrap();
    assert!(child.wait().unwrap().success(), "the oracle failed");
    assert_eq!(outcomes.len(), bodies.len(), "one answer per body");
    outcomes
}

fn rust_decode(kind: BodyKind, body: &[u8]) -> Outcome {
    match moby::decode(kind, body) {
        Ok(decoded) => {
            // The tree normalization reads is exactly what the text policies see parses to.
            let reparsed = GoJson::parse(decoded.text.as_bytes()).expect("canonical text is JSON");
            assert!(
                decoded.tree == reparsed,
                "{}: the tree differs from its text {}",
                kind.name(),
                decoded.text
            );
            Outcome::Ok(decoded.text)
        }
        Err(_) => Outcome::Refused,
    }
}

/// Compares both readers on every body; fails listing the first differences.
fn assert_same(bodies: &[(BodyKind, Vec<u8>)]) {
    let go = go_decode(bodies);
    let mut differences = Vec::new();
    for ((kind, body), expected) in bodies.iter().zip(&go) {
        let actual = rust_decode(*kind, body);
        // What policies read is stable: decoding the canonical form gives it back (create and
        // start wrap their result, so their canonical form is not a request body).
        if let Outcome::Ok(canonical) = &actual
            && !matches!(kind, BodyKind::ContainerCreate | BodyKind::ContainerStart)
            && rust_decode(*kind, canonical.as_bytes()) != actual
        {
            differences.push(format!(
                "{} canonical form {canonical} does not decode to itself",
                kind.name()
            ));
        }
        if &actual != expected {
            differences.push(format!(
                "{} body {:?}\n  go:   {expected:?}\n  rust: {actual:?}",
                kind.name(),
                String::from_utf8_lossy(body)
            ));
        }
    }
    let refused = go.iter().filter(|o| **o == Outcome::Refused).count();
    eprintln!(
        "{} bodies, {} decoded by Go, {} refused by Go, {} differences",
        bodies.len(),
        bodies.len() - refused,
        refused,
        differences.len()
    );
    assert!(
        differences.is_empty(),
        "{} of {} bodies read differently from dockerd; the first:\n{}",
        differences.len(),
        bodies.len(),
        differences[..differences.len().min(8)].join("\n")
    );
}

#[test]
#[ignore = "needs Go 1.19 and moby 20.10 sources (Debian golang-go, golang-github-docker-docker-dev): run tests/run.sh"]
fn the_schema_is_moby_s_types_as_go_sees_them() {
    let out = Command::new(oracle()).arg("schema").output().unwrap();
    assert!(out.status.success());
    let committed =
        std::fs::read_to_string(workspace().join("engine/src/docker/gojson/moby-types.json"))
            .unwrap();
    assert!(
        String::from_utf8(out.stdout).unwrap() == committed,
        "engine/src/docker/gojson/moby-types.json is not what `moby-oracle schema` generates \
         from the installed moby sources; regenerate it"
    );
}

#[test]
#[ignore = "needs Go 1.19 and moby 20.10 sources (Debian golang-go, golang-github-docker-docker-dev): run tests/run.sh"]
fn hand_written_bodies_decode_as_dockerd_decodes_them() {
    let create = |s: &str| (BodyKind::ContainerCreate, s.as_bytes().to_vec());
    let bodies = vec![
        create(r#"{"Image":"alpine","HostConfig":{"Privileged":true}}"#),
        // A repeated object merges into the first.
        create(r#"{"HostConfig":{"Privileged":true},"HostConfig":{"CapAdd":["X"]}}"#),
        create(r#"{"HostConfig":{"Privileged":true},"hostconfig":{"PidMode":"host"}}"#),
        // null leaves a bool alone and clears a pointer.
        create(r#"{"HostConfig":{"Privileged":true,"Privileged":null}}"#),
        create(r#"{"HostConfig":{"Privileged":true},"HostConfig":null,"Privileged":true}"#),
        // Go's folding: ſ and the Kelvin sign, and not the dotless i.
        create("{\"HostConfig\":{\"\u{17f}ecurityOpt\":[\"seccomp=unconfined\"]}}"),
        create("{\"HostConfig\":{\"Lin\u{212a}s\":[\"a:b\"],\"Pr\u{131}vileged\":true}}"),
        // StrSlice takes a bare string.
        create(r#"{"HostConfig":{"CapAdd":"SYS_ADMIN","CapDrop":null}}"#),
        // Slices reuse their elements, including ones past a shorter decode's length.
        create(
            r#"{"HostConfig":{"Mounts":[{"Type":"volume","Target":"/a"},{"Type":"bind","Source":"/","Target":"/h"}],
                "Mounts":[{"Target":"/b"}],"Mounts":[{},{"ReadOnly":false}]}}"#,
        ),
        // Maps add keys.
        create(r#"{"Labels":{"a":"1"},"Labels":{"b":"2"},"HostConfig":{"Sysctls":{"x":"1"},"Sysctls":{"y":"2"}}}"#),
        // Deprecated top-level HostConfig fields.
        create(r#"{"Image":"x","Privileged":true,"Binds":["/:/h"]}"#),
        create(r#"{"Memory":5,"HostConfig":{"Memory":0},"Cpuset":"0-1"}"#),
        // Trailing data is never read; an empty body is refused.
        create(r#"{"HostConfig":{"Privileged":true}} trailing"#),
        create(""),
        create("\u{feff}{}"),
        create(r#"{"HostConfig":{"PidsLimit":1.0}}"#),
        create(r#"{"HostConfig":{"ShmSize":9223372036854775808}}"#),
        create(r#"{"HostConfig":{"ConsoleSize":[1,2,3]}}"#),
        create("{\"Image\":\"a\u{2028}<&>\\ud800\"}"),
        (BodyKind::ContainerCreate, b"{\"Image\":\"a\xe2\x82b\xff\"}".to_vec()),
        (BodyKind::ContainerStart, br#"{"HostConfig":{"Binds":["/:/x"]},"PidMode":"host"}"#.to_vec()),
        (BodyKind::ContainerUpdate, br#"{"Memory":1,"RestartPolicy":{"Name":"always"}}"#.to_vec()),
        (BodyKind::ExecCreate, br#"{"Cmd":"sh","Privileged":true,"User":"0"}"#.to_vec()),
        (
            BodyKind::ServiceSpec,
            br#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":{"SELinuxContext":{"Disable":true}},
                "CapabilityAdd":["CAP_SYS_ADMIN"],"Mounts":[{"Type":"volume","Source":"v","Target":"/v",
                "VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/"}}}}]},
                "Networks":[{"Target":"host"}]},"UpdateConfig":{"MaxFailureRatio":0.1}}"#
                .to_vec(),
        ),
        (
            BodyKind::VolumeCreate,
            br#"{"Name":"v","Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}"#.to_vec(),
        ),
        (BodyKind::PluginPrivileges, br#"[{"Name":"mount","Value":["/"]}]"#.to_vec()),
        (BodyKind::PluginPrivileges, br#"[{"Name":"mount","Value":["/"]}] ]"#.to_vec()),
        (BodyKind::PluginPrivileges, br#"[{"Name":"mount","Value":["/"]}] x"#.to_vec()),
        (BodyKind::NetworkCreate, br#"{"Name":"n","Driver":"bridge","Options":{"a":"b"}}"#.to_vec()),
    ];
    assert_same(&bodies);
}

#[test]
#[ignore = "needs Go 1.19 and moby 20.10 sources (Debian golang-go, golang-github-docker-docker-dev): run tests/run.sh"]
fn the_docker_samples_bodies_decode_as_dockerd_decodes_them() {
    use base64::Engine as _;
    let mut bodies = Vec::new();
    for (file, sample) in crate::conformance::docker_samples() {
        let request = &sample["authz_request"];
        let Some(body) = request["RequestBody"].as_str() else {
            continue;
        };
        let route = portcullis::docker::route::parse(
            request["RequestMethod"].as_str().unwrap_or_default(),
            request["RequestUri"].as_str().unwrap_or_default(),
        );
        let Some(kind) = BodyKind::of(&route.operation) else {
            continue;
        };
        let body = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        bodies.push((kind, body));
    }
    assert!(bodies.len() >= 30, "only {} sample bodies", bodies.len());
    assert_same(&bodies);
}

/// How many generated bodies one run compares (`PORTCULLIS_DIFF_BODIES`), and from which
/// seed (`PORTCULLIS_DIFF_SEED`).
fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "needs Go 1.19 and moby 20.10 sources (Debian golang-go, golang-github-docker-docker-dev): run tests/run.sh"]
fn generated_adversarial_bodies_decode_as_dockerd_decodes_them() {
    let count = knob("PORTCULLIS_DIFF_BODIES", 100_000);
    let seed = knob("PORTCULLIS_DIFF_SEED", 0x5eed_0fd0_c4e7);
    eprintln!("generating {count} bodies from seed {seed:#x}");
    let schema = Schema::get();
    let mut generator = Generator {
        rng: Rng(seed | 1),
        schema,
    };
    let bodies: Vec<(BodyKind, Vec<u8>)> = (0..count)
        .map(|i| {
            let kind = BodyKind::ALL[i as usize % BodyKind::ALL.len()];
            (kind, generator.body(kind))
        })
        .collect();
    for chunk in bodies.chunks(20_000) {
        assert_same(chunk);
    }
}

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Random bodies shaped by the schema: real field names in every spelling Go might match
/// (and some it must not), repeated keys, nulls, wrong kinds, odd numbers and strings,
/// unknown keys, and damaged documents.
struct Generator<'s> {
    rng: Rng,
    schema: &'s Schema,
}

const STRINGS: &[&str] = &[
    "",
    "host",
    "HOST",
    "/",
    "/etc",
    "//var/run/docker.sock",
    "container:web",
    "seccomp=unconfined",
    "label=disable",
    "systempaths=unconfined",
    "SYS_ADMIN",
    "CAP_SYS_ADMIN",
    "bind",
    "volume",
    "none",
    "local",
    "a:b:ro",
    "/:/host",
    "80/tcp",
    "always",
    "é\u{17f}\u{212a}",
    "\u{2028}<script>&",
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "-0",
    "1.0",
    "0.5",
    "1e2",
    "1E-2",
    "-1.5e+3",
    "127",
    "128",
    "-129",
    "255",
    "256",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "3.4028235e38",
    "3.5e38",
    "1e-46",
    "1.4e-45",
    "1e400",
    "0.1",
    "123456789012",
];

impl Generator<'_> {
    fn body(&mut self, kind: BodyKind) -> Vec<u8> {
        let root = match kind {
            BodyKind::ContainerCreate | BodyKind::ContainerStart => {
                self.schema.root("container-create-wrapper")
            }
            other => self.schema.root(other.name()),
        };
        let mut out = Vec::new();
        if self.rng.chance(3) {
            out.extend_from_slice(
                self.rng
                    .pick::<&[u8]>(&[b" \n\t", b"\xef\xbb\xbf", b"\x00"]),
            );
        }
        self.value(root, 0, &mut out);
        match self.rng.below(100) {
            0..=2 => {
                out.extend_from_slice(self.rng.pick::<&[u8]>(&[b" x", b"}", b"]", b" {", b"\n"]))
            }
            3..=4 => {
                let cut = self.rng.below(out.len().max(1));
                out.truncate(cut);
            }
            _ => {}
        }
        out
    }

    fn value(&mut self, ty: TypeId, depth: usize, out: &mut Vec<u8>) {
        // Now and then: null, or a value of the wrong kind.
        if self.rng.chance(6) {
            out.extend_from_slice(b"null");
            return;
        }
        if self.rng.chance(3) || depth > 12 {
            self.anything(depth, out);
            return;
        }
        let schema = self.schema;
        let t = schema.ty(ty);
        if t.unmarshaler.is_some() && self.rng.chance(40) {
            self.string(out);
            return;
        }
        match &t.kind {
            Kind::Bool => out.extend_from_slice(if self.rng.chance(50) {
                b"true"
            } else {
                b"false"
            }),
            Kind::Int(_) | Kind::Uint(_) | Kind::Float(_) => {
                out.extend_from_slice(self.rng.pick(NUMBERS).as_bytes())
            }
            Kind::String => self.string(out),
            Kind::Interface => self.anything(depth, out),
            Kind::Ptr(elem) => self.value(*elem, depth, out),
            Kind::Slice(elem) | Kind::Array(elem, _) => {
                out.push(b'[');
                // Longer lists now and then: a repeated key's list reuses the earlier list's
                // backing array, which grows in steps (4, 6, 9, ...).
                let n = if self.rng.chance(15) {
                    5 + self.rng.below(6)
                } else {
                    self.rng.below(5)
                };
                for i in 0..n {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.value(*elem, depth + 1, out);
                }
                out.push(b']');
            }
            Kind::Map(elem) => {
                out.push(b'{');
                for i in 0..self.rng.below(4) {
                    if i > 0 {
                        out.push(b',');
                    }
                    if self.rng.chance(30) {
                        out.extend_from_slice(b"\"k\"");
                    } else {
                        self.string(out);
                    }
                    out.push(b':');
                    self.value(*elem, depth + 1, out);
                }
                out.push(b'}');
            }
            Kind::Struct(st) => {
                out.push(b'{');
                let mut emitted: Vec<usize> = Vec::new();
                let n = self.rng.below(7);
                for i in 0..n {
                    if i > 0 {
                        out.push(b',');
                    }
                    if st.fields.is_empty() || self.rng.chance(5) {
                        self.string(out);
                        out.push(b':');
                        self.anything(depth + 1, out);
                        continue;
                    }
                    // Repeat an earlier field now and then, otherwise pick any.
                    let f = if !emitted.is_empty() && self.rng.chance(25) {
                        *self.rng.pick(&emitted)
                    } else {
                        self.rng.below(st.fields.len())
                    };
                    emitted.push(f);
                    let field = &st.fields[f];
                    self.key(&field.name, out);
                    out.push(b':');
                    let (fty, _) = field_type(schema, ty, &field.index);
                    self.value(fty, depth + 1, out);
                }
                out.push(b'}');
            }
        }
    }

    /// A field name spelled as Go may or may not match it.
    fn key(&mut self, name: &str, out: &mut Vec<u8>) {
        let spelled: String = match self.rng.below(100) {
            0..=54 => name.to_string(),
            55..=74 => name
                .chars()
                .map(|c| {
                    if self.rng.chance(50) {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect(),
            75..=86 => name
                .chars()
                .map(|c| match c {
                    's' | 'S' if self.rng.chance(70) => '\u{17f}',
                    'k' | 'K' if self.rng.chance(70) => '\u{212a}',
                    'i' | 'I' if self.rng.chance(30) => *self.rng.pick(&['\u{131}', '\u{130}']),
                    c => c,
                })
                .collect(),
            87..=94 => {
                // Every letter as a \u escape: the same key once unquoted.
                out.push(b'"');
                for c in name.chars() {
                    if self.rng.chance(50) {
                        out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
                    } else {
                        out.push(c as u8);
                    }
                }
                out.push(b'"');
                return;
            }
            _ => format!("{name}{}", self.rng.pick(&["x", " ", "\u{0}", "\u{200b}"])),
        };
        out.extend_from_slice(serde_json::to_string(&spelled).unwrap().as_bytes());
    }

    fn string(&mut self, out: &mut Vec<u8>) {
        match self.rng.below(100) {
            0..=79 => {
                let s = self.rng.pick(STRINGS);
                out.extend_from_slice(serde_json::to_string(s).unwrap().as_bytes());
            }
            80..=89 => out.extend_from_slice(self.rng.pick::<&[u8]>(&[
                br#""\ud800""#,
                br#""\udc00\ud800x""#,
                br#""\ud83d\ude00""#,
                br#""\u0000\b\f\/""#,
                br#""\uD800\u0041""#,
            ])),
            _ => out.extend_from_slice(self.rng.pick::<&[u8]>(&[
                b"\"\xff\"",
                b"\"a\xe2\x82\"",
                b"\"\xed\xa0\x80\"",
                b"\"\xc0\xaf\"",
                b"\"\xf4\x90\x80\x80\"",
                b"\"\x7f\"",
            ])),
        }
    }

    /// Any JSON at all, sometimes deeply nested.
    fn anything(&mut self, depth: usize, out: &mut Vec<u8>) {
        match self.rng.below(9) {
            0 => out.extend_from_slice(b"null"),
            1 => out.extend_from_slice(b"true"),
            2 => out.extend_from_slice(self.rng.pick(NUMBERS).as_bytes()),
            3 => self.string(out),
            4 if depth < 6 => {
                out.push(b'[');
                for i in 0..self.rng.below(3) {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.anything(depth + 1, out);
                }
                out.push(b']');
            }
            5 if depth < 6 => {
                out.push(b'{');
                for i in 0..self.rng.below(3) {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.string(out);
                    out.push(b':');
                    self.anything(depth + 1, out);
                }
                out.push(b'}');
            }
            6 if self.rng.chance(2) => {
                // Near and past encoding/json's nesting limit.
                let n = *self.rng.pick(&[9_990, 10_001]);
                out.extend(std::iter::repeat_n(b'[', n));
                out.extend(std::iter::repeat_n(b']', n));
            }
            _ => out.extend_from_slice(b"{}"),
        }
    }
}

/// The type of the field at `index` below struct type `ty`.
fn field_type(schema: &Schema, mut ty: TypeId, index: &[usize]) -> (TypeId, ()) {
    for &i in index {
        if let Kind::Ptr(elem) = schema.ty(ty).kind {
            ty = elem;
        }
        ty = schema.strukt(ty).raw[i].expect("typed field");
    }
    (ty, ())
}
