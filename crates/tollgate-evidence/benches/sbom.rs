//! Times `sbom::parse` on a generated 10,000-component CycloneDX 1.5 BOM, as JSON and as XML
//! (`cargo bench -p tollgate-evidence --bench sbom`). The target is under 50 ms for the JSON in
//! release mode; the XML figure is printed beside it.
//!
//! The BOM looks like a real one: 2,000 packages with 4 nested components each, every one with
//! a purl, three hashes, a licence, external references and properties.

use std::fmt::Write;
use std::time::{Duration, Instant};

use tollgate_evidence::sbom;

const TOP: usize = 2_000;
const NESTED: usize = 4;
const COMPONENTS: u64 = (TOP * (1 + NESTED)) as u64;
const RUNS: usize = 25;
const SUBJECT_SHA256: &str = "9e45261eff969396b6a3e97a1ad65dced304f77765655c9a72a2904caa137a1e";

struct Component {
    name: String,
    version: String,
    purl: String,
    sha1: String,
    sha256: String,
    sha512: String,
    license: &'static str,
}

fn hex(seed: usize, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut x = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let _ = write!(out, "{x:016x}");
    }
    out.truncate(len);
    out
}

fn component(i: usize) -> Component {
    let name = format!("package-{i}");
    let version = format!("{}.{}.{}", i % 7, i % 13, i % 29);
    Component {
        purl: format!("pkg:maven/org.example.group{}/{name}@{version}?type=jar", i % 50),
        sha1: hex(i, 40),
        sha256: hex(i + 1, 64),
        sha512: hex(i + 2, 128),
        license: ["Apache-2.0", "MIT", "BSD-3-Clause", "EPL-2.0"][i % 4],
        name,
        version,
    }
}

fn json_component(out: &mut String, i: usize, nested: &[usize]) {
    let c = component(i);
    let _ = write!(
        out,
        r#"{{"type":"library","bom-ref":"{purl}","group":"org.example.group{g}","name":"{name}","version":"{version}","description":"The {name} library, version {version}, for benchmarks.","scope":"required","hashes":[{{"alg":"SHA-1","content":"{sha1}"}},{{"alg":"SHA-256","content":"{sha256}"}},{{"alg":"SHA-512","content":"{sha512}"}}],"licenses":[{{"license":{{"id":"{license}"}}}}],"purl":"{purl}","externalReferences":[{{"type":"vcs","url":"https://github.com/example/{name}"}},{{"type":"website","url":"https://example.com/{name}"}}],"properties":[{{"name":"cdx:maven:package:test","value":"false"}}]"#,
        purl = c.purl,
        g = i % 50,
        name = c.name,
        version = c.version,
        sha1 = c.sha1,
        sha256 = c.sha256,
        sha512 = c.sha512,
        license = c.license,
    );
    if !nested.is_empty() {
        out.push_str(r#","components":["#);
        for (n, &child) in nested.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            json_component(out, child, &[]);
        }
        out.push(']');
    }
    out.push('}');
}

fn children(top: usize) -> Vec<usize> {
    (0..NESTED).map(|n| TOP + top * NESTED + n).collect()
}

fn json_bom() -> String {
    let mut out = String::with_capacity(16 << 20);
    let _ = write!(
        out,
        r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","serialNumber":"urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79","version":1,"metadata":{{"timestamp":"2026-01-01T00:00:00Z","component":{{"type":"application","name":"shop","version":"2.1.0","hashes":[{{"alg":"SHA-256","content":"{SUBJECT_SHA256}"}}]}}}},"components":["#
    );
    for top in 0..TOP {
        if top > 0 {
            out.push(',');
        }
        json_component(&mut out, top, &children(top));
    }
    out.push_str(r#"],"dependencies":["#);
    for top in 0..TOP {
        if top > 0 {
            out.push(',');
        }
        let _ =
            write!(out, r#"{{"ref":"{}","dependsOn":["{}"]}}"#, component(top).purl, component((top + 1) % TOP).purl);
    }
    out.push_str("]}");
    out
}

fn xml_component(out: &mut String, i: usize, nested: &[usize]) {
    let c = component(i);
    let _ = write!(
        out,
        r#"<component type="library" bom-ref="{purl}"><group>org.example.group{g}</group><name>{name}</name><version>{version}</version><description>The {name} library, version {version}, for benchmarks.</description><scope>required</scope><hashes><hash alg="SHA-1">{sha1}</hash><hash alg="SHA-256">{sha256}</hash><hash alg="SHA-512">{sha512}</hash></hashes><licenses><license><id>{license}</id></license></licenses><purl>{purl}</purl><externalReferences><reference type="vcs"><url>https://github.com/example/{name}</url></reference><reference type="website"><url>https://example.com/{name}</url></reference></externalReferences><properties><property name="cdx:maven:package:test">false</property></properties>"#,
        purl = c.purl,
        g = i % 50,
        name = c.name,
        version = c.version,
        sha1 = c.sha1,
        sha256 = c.sha256,
        sha512 = c.sha512,
        license = c.license,
    );
    if !nested.is_empty() {
        out.push_str("<components>");
        for &child in nested {
            xml_component(out, child, &[]);
        }
        out.push_str("</components>");
    }
    out.push_str("</component>\n");
}

fn xml_bom() -> String {
    let mut out = String::with_capacity(16 << 20);
    let _ = write!(
        out,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<bom xmlns="http://cyclonedx.org/schema/bom/1.5" serialNumber="urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79" version="1">
<metadata><timestamp>2026-01-01T00:00:00Z</timestamp><component type="application"><name>shop</name><version>2.1.0</version><hashes><hash alg="SHA-256">{SUBJECT_SHA256}</hash></hashes></component></metadata>
<components>
"#
    );
    for top in 0..TOP {
        xml_component(&mut out, top, &children(top));
    }
    out.push_str("</components>\n<dependencies>\n");
    for top in 0..TOP {
        let _ = writeln!(
            out,
            r#"<dependency ref="{}"><dependency ref="{}"/></dependency>"#,
            component(top).purl,
            component((top + 1) % TOP).purl
        );
    }
    out.push_str("</dependencies>\n</bom>\n");
    out
}

fn median_ms(doc: &[u8]) -> f64 {
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let report = sbom::parse(std::hint::black_box(doc)).expect("the generated BOM parses");
        times.push(start.elapsed());
        assert_eq!((report.components, report.with_purl, report.with_hashes), (COMPONENTS, COMPONENTS, COMPONENTS));
        assert_eq!(report.describes.len(), 1);
    }
    times.sort();
    times[RUNS / 2].as_secs_f64() * 1000.0
}

fn main() {
    for (label, doc) in [("CycloneDX 1.5 JSON", json_bom()), ("CycloneDX 1.5 XML", xml_bom())] {
        let ms = median_ms(doc.as_bytes());
        println!(
            "sbom::parse {label}: {COMPONENTS} components, {:.1} MiB, median of {RUNS} runs {ms:.1} ms",
            doc.len() as f64 / (1024.0 * 1024.0)
        );
    }
}
