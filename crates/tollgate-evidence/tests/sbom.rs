//! SBOM parsing: every CycloneDX and SPDX file of the shared test data (snapshots), and small
//! hand-written documents for what those files do not show (nested components, subject
//! digests, refusals).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use tollgate_domain::evidence::SbomReport;
use tollgate_evidence::{Location, ParseError, sbom};

fn summary(result: Result<SbomReport, ParseError>) -> Value {
    match result {
        Ok(r) => json!({
            "format": r.format,
            "subject": r.subject,
            "describes": r.describes.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
            "components": r.components,
            "with_purl": r.with_purl,
            "with_hashes": r.with_hashes,
        }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// Every `.json` and `.xml` file of a test data folder, parsed, by file name.
fn parse_folder(dir: &Path) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".json") || name.ends_with(".xml") {
            out.insert(name, summary(sbom::parse(&std::fs::read(&path).unwrap())));
        }
    }
    out
}

fn ok(doc: &str) -> SbomReport {
    sbom::parse(doc.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn err(doc: &str) -> ParseError {
    match sbom::parse(doc.as_bytes()) {
        Ok(r) => panic!("expected an error, parsed {r:?}"),
        Err(e) => e,
    }
}

#[test]
fn cyclonedx_examples() {
    let Some(dir) = common::testdata("cyclonedx") else { return };
    let all = parse_folder(&dir);
    // The laravel BOM is the one 1.4 BOM with components; JSON and XML must agree.
    let json = &all["SBOM_laravel-7.12.0_bom.1.4.json"];
    let xml = &all["SBOM_laravel-7.12.0_bom.1.4.xml"];
    assert_eq!(json["components"], 62, "{json}");
    assert_eq!(json["with_purl"], 62, "{json}");
    for key in ["components", "with_purl", "with_hashes", "subject", "describes"] {
        assert_eq!(json[key], xml[key], "{key}: {json} vs {xml}");
    }
    // 1.2 and 1.3 documents are refused, never half-read.
    assert!(all["SBOM_dropwizard-1.3.15_bom.json"]["error"].as_str().unwrap().contains("CycloneDX 1.2 is not read"));
    assert!(all["SBOM_dropwizard-1.3.15_bom.xml"]["error"].as_str().unwrap().contains("CycloneDX 1.2 is not read"));
    assert!(all["VEX_bom.json"]["error"].as_str().unwrap().contains("CycloneDX 1.3 is not read"));
    insta::assert_json_snapshot!("cyclonedx", all);
}

#[test]
fn spdx_example() {
    let Some(dir) = common::testdata("spdx") else { return };
    let all = parse_folder(&dir);
    let example = &all["SPDXJSONExample-v2.3.spdx.json"];
    assert_eq!(example["components"], 4, "{example}");
    assert_eq!(example["with_purl"], 1, "{example}");
    assert_eq!(example["with_hashes"], 2, "{example}");
    assert_eq!(example["subject"], "glibc@2.11.1", "{example}");
    insta::assert_json_snapshot!("spdx", all);
}

const SHA_A: &str = "11b6d3ee554eedf79299905a98f9b9a04e498210b59f15094c916c91d150efcd";
const SHA_B: &str = "78522E385D01FC74CB6410ABB22B2B0ED9B47C1124635D955179402928820B43";

fn cyclonedx_json(version: &str) -> String {
    format!(
        r#"{{
  "bomFormat": "CycloneDX",
  "specVersion": "{version}",
  "metadata": {{
    "component": {{
      "type": "container", "name": "shop", "version": "2.1.0",
      "hashes": [
        {{"alg": "SHA-1", "content": "04b39fce560f8a9609e5b5db6e605fc2ba2c5a42"}},
        {{"alg": "SHA-256", "content": "{SHA_A}"}},
        {{"alg": "SHA-256", "content": "{SHA_B}"}}
      ]
    }},
    "tools": {{"components": [{{"type": "application", "name": "syft", "purl": "pkg:generic/syft@1"}}]}}
  }},
  "components": [
    {{"type": "library", "name": "a", "purl": "pkg:npm/a@1",
      "hashes": [{{"alg": "SHA-256", "content": "{SHA_A}"}}],
      "components": [
        {{"type": "library", "name": "a-inner", "purl": "pkg:npm/a-inner@1",
          "components": [{{"type": "file", "name": "deep", "hashes": [{{"alg": "MD5", "content": "624c1abb3664f4b35547e7c73864ad24"}}]}}]}}
      ]}},
    {{"type": "library", "name": "b", "purl": "", "hashes": []}},
    {{"type": "library", "name": "c"}}
  ]
}}"#
    )
}

#[test]
fn cyclonedx_json_counts_nested_components_and_reads_the_subject_digests() {
    for version in ["1.4", "1.5", "1.6"] {
        let r = ok(&cyclonedx_json(version));
        assert_eq!(r.format, format!("CycloneDX {version} JSON"));
        // a, a-inner, deep, b, c; the tool component is not part of the BOM's components.
        assert_eq!((r.components, r.with_purl, r.with_hashes), (5, 2, 2), "{r:?}");
        assert_eq!(r.subject.as_deref(), Some("shop@2.1.0"));
        let describes: Vec<&str> = r.describes.iter().map(|d| d.as_str()).collect();
        assert_eq!(describes, [format!("sha256:{SHA_A}"), format!("sha256:{}", SHA_B.to_ascii_lowercase())]);
    }
}

#[test]
fn cyclonedx_json_refusals_name_the_path() {
    let e = err(&cyclonedx_json("1.5").replace(SHA_B, "not-a-digest"));
    // The line is where the reader noticed, just after the hash.
    assert!(
        matches!(&e.location, Location::Path { path, line: Some(10 | 11) } if path == "metadata.component.hashes[2].content"),
        "{e}"
    );
    assert!(e.message.contains("not a SHA-256 digest"), "{e}");

    let e = err(&cyclonedx_json("1.3"));
    assert_eq!(e.to_string(), "at `specVersion`: CycloneDX 1.3 is not read; expected version 1.4, 1.5 or 1.6");
    let e = err(&cyclonedx_json("2.0"));
    assert!(e.message.contains("CycloneDX 2.0 is not read"), "{e}");

    let e = err(r#"{"bomFormat": "SPDX", "specVersion": "1.5"}"#);
    assert_eq!(e.to_string(), "at `bomFormat`: expected \"CycloneDX\", found \"SPDX\"");

    let e = err(r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"name": "a", "purl": 3}]}"#);
    assert_eq!(e.to_string(), "line 1, at `components[0].purl`: invalid type: integer `3`, expected a string");

    let e =
        err(r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"name": "a", "components": ["x"]}]}"#);
    assert_eq!(
        e.to_string(),
        "line 1, at `components[0].components[0]`: invalid type: string \"x\", expected a component object"
    );

    // Past the first few keys of an object duplicates are found in a set; a wide object stays fast.
    let wide: Vec<String> = (0..100_000).map(|i| format!("\"k{i}\": {i}")).collect();
    let doc = format!(r#"{{"bomFormat": "CycloneDX", "specVersion": "1.5", "properties": {{{}}}}}"#, wide.join(","));
    assert_eq!(ok(&doc).components, 0);
    let e = err(&doc.replace("\"k99999\"", "\"k17\""));
    assert_eq!(e.to_string(), "line 1, at `properties.k17`: duplicate key `k17`");
    let e = err(&doc.replace("\"k99999\"", "\"k3\""));
    assert_eq!(e.to_string(), "line 1, at `properties.k3`: duplicate key `k3`");
    let e = err("{\"bomFormat\": \"CycloneDX\",\n \"specVersion\": \"1.5\",\n \"specVersion\": \"1.6\"}");
    assert_eq!(e.to_string(), "line 3, at `specVersion`: duplicate key `specVersion`");
    // Also in the parts that are not otherwise read.
    let e = err(
        r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"name": "a"}, {"name": "b", "licenses": [{"license": {"id": "MIT", "id": "GPL-3.0-only"}}]}]}"#,
    );
    assert_eq!(e.to_string(), "line 1, at `components[1].licenses[0].license.id`: duplicate key `id`");
    let e = err("{\"bomFormat\": \"CycloneDX\", \"specVersion\": \"1.5\",\n \"components\": [{\"name\": \"a\",]}");
    assert_eq!(e.to_string(), "line 2, column 30: key must be a string");
}

#[test]
fn documents_that_are_no_sbom_are_refused() {
    assert!(err("").to_string().contains("empty"));
    assert!(err("metric,value\n").to_string().contains("expected a CycloneDX or SPDX JSON document"));
    assert!(err(r#"{"name": "x"}"#).to_string().contains("found neither"));
    assert_eq!(err(r#"[1]"#).to_string(), "line 1, at `$`: invalid type: sequence, expected an SBOM object");
    assert!(err(r#"{"bomFormat": "CycloneDX", "spdxVersion": "SPDX-2.3"}"#).to_string().contains("both"));
}

fn cyclonedx_xml(namespace: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<bom xmlns="{namespace}" xmlns:ext="https://example.com/ext" version="1">
  <metadata>
    <tools><components><component type="application"><name>syft</name><purl>pkg:generic/syft@1</purl></component></components></tools>
    <component type="container">
      <name>shop &amp; co</name>
      <version><![CDATA[2.1.0]]></version>
      <hashes>
        <hash alg="SHA-1">04b39fce560f8a9609e5b5db6e605fc2ba2c5a42</hash>
        <hash alg="SHA-256">
          {SHA_A}
        </hash>
      </hashes>
    </component>
  </metadata>
  <components>
    <component type="library">
      <name>a</name>
      <purl>pkg:npm/a@1?x=1&amp;y=2</purl>
      <hashes><hash alg="SHA-256">{SHA_A}</hash></hashes>
      <components>
        <component type="library"><name>a-inner</name><purl>pkg:npm/a-inner@1</purl>
          <components><component type="file"><name>deep</name><hashes><hash alg="MD5">624c1abb3664f4b35547e7c73864ad24</hash></hashes></component></components>
        </component>
      </components>
    </component>
    <component type="library"><name>b</name><purl/><hashes/></component>
    <component type="library"><name>c</name>
      <ext:components><ext:component><purl>pkg:npm/not-counted@1</purl></ext:component></ext:components>
    </component>
  </components>
  <ext:component><purl>pkg:npm/not-counted@2</purl></ext:component>
</bom>
"#
    )
}

#[test]
fn cyclonedx_xml_matches_json() {
    for version in ["1.4", "1.5", "1.6"] {
        let r = ok(&cyclonedx_xml(&format!("http://cyclonedx.org/schema/bom/{version}")));
        assert_eq!(r.format, format!("CycloneDX {version} XML"));
        assert_eq!((r.components, r.with_purl, r.with_hashes), (5, 2, 2), "{r:?}");
        assert_eq!(r.subject.as_deref(), Some("shop & co@2.1.0"));
        let describes: Vec<&str> = r.describes.iter().map(|d| d.as_str()).collect();
        assert_eq!(describes, [format!("sha256:{SHA_A}")]);
    }
    // A byte order mark is allowed.
    let with_bom = format!("\u{feff}{}", cyclonedx_xml("http://cyclonedx.org/schema/bom/1.5"));
    assert_eq!(ok(&with_bom).components, 5);
}

#[test]
fn cyclonedx_xml_refusals_name_the_line() {
    let e = err(&cyclonedx_xml("http://cyclonedx.org/schema/bom/1.3"));
    assert_eq!(e.to_string(), "line 2, column 1: CycloneDX 1.3 is not read; expected version 1.4, 1.5 or 1.6");

    let e = err(&cyclonedx_xml("https://example.com/bom"));
    assert!(e.message.contains("expected a CycloneDX <bom>"), "{e}");
    assert!(e.message.contains("found <bom> in namespace https://example.com/bom"), "{e}");

    let e = err("<bom version=\"1\"/>");
    assert!(e.message.contains("found <bom> in no namespace"), "{e}");

    // The malformed digest is reported where its <hash> starts.
    let e = err(&cyclonedx_xml("http://cyclonedx.org/schema/bom/1.5").replacen(
        &format!("\n          {SHA_A}\n"),
        "abc",
        1,
    ));
    assert_eq!(e.location, Location::LineColumn { line: 10, column: 9 }, "{e}");
    assert!(e.message.contains("`abc` is not a SHA-256 digest"), "{e}");

    let e = err(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE bom [<!ENTITY x \"y\">]>\n<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\"/>",
    );
    assert_eq!(e.to_string(), "line 2, column 1: a DOCTYPE is not accepted in an SBOM");

    let e = err(
        "<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\"><components><component><name>&x;</name></component></components></bom>",
    );
    assert!(e.message.contains("the entity `&x;` is not defined"), "{e}");

    let e = err("<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\"><components>");
    assert!(e.message.contains("ends before this element is closed"), "{e}");

    let e = err(
        "<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\"></bom>\n<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\"></bom>",
    );
    assert!(e.message.contains("expected one root element"), "{e}");

    let e = err("<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\"><components></bom>");
    assert!(e.message.starts_with("malformed XML"), "{e}");

    let e = err("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\"/>");
    assert!(e.message.contains("expected UTF-8"), "{e}");

    let e = sbom::parse(b"<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\">\n<x>\xff</x></bom>").unwrap_err();
    assert_eq!(e.to_string(), "line 2, column 4: the XML is not UTF-8; expected a UTF-8 CycloneDX document");

    let e = err(&cyclonedx_xml("http://cyclonedx.org/schema/bom/1.5")
        .replace(r#"<hash alg="SHA-1">"#, r#"<hash alg="SHA-1" alg="SHA-256">"#));
    assert_eq!(e.location, Location::LineColumn { line: 9, column: 9 }, "{e}");
    assert!(e.message.contains("malformed attribute"), "{e}");

    let e = err("<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\"><p:x/></bom>");
    assert!(e.message.contains("prefix `p` is not declared"), "{e}");
}

#[test]
fn cyclonedx_xml_depth_is_bounded() {
    let open = |n: usize| "<components><component>".repeat(n);
    let close = |n: usize| "</component></components>".repeat(n);
    let doc = |n: usize| format!("<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\">{}{}</bom>", open(n), close(n));
    // bom + 2 per level: 31 levels are 63 deep.
    assert_eq!(ok(&doc(31)).components, 31);
    let e = err(&doc(32));
    assert!(e.message.contains("nested more than 64 deep"), "{e}");
}

fn spdx(extra: &str) -> String {
    format!(
        r#"{{
  "spdxVersion": "SPDX-2.3",
  "SPDXID": "SPDXRef-DOCUMENT",
  "name": "shop",
  "packages": [
    {{"SPDXID": "SPDXRef-shop", "name": "shop", "versionInfo": "2.1.0",
      "checksums": [{{"algorithm": "SHA1", "checksumValue": "85ed0817af83a24ad8da68c2b5094de69833983c"}},
                    {{"algorithm": "SHA256", "checksumValue": "{SHA_B}"}}]}},
    {{"SPDXID": "SPDXRef-lib", "name": "lib", "versionInfo": "1.0",
      "externalRefs": [{{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:npm/lib@1.0"}},
                       {{"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": "cpe:2.3:a:x:lib:1.0"}}],
      "checksums": [{{"algorithm": "SHA256", "checksumValue": "{SHA_A}"}}]}},
    {{"SPDXID": "SPDXRef-other", "name": "other",
      "externalRefs": [{{"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": "cpe:2.3:a:x:other"}}]}}
  ],
  "files": [
    {{"SPDXID": "SPDXRef-bin", "fileName": "./shop.bin", "checksums": [{{"algorithm": "SHA256", "checksumValue": "{SHA_A}"}}]}}
  ]{extra}
}}"#
    )
}

#[test]
fn spdx_subject_from_relationships() {
    let describes = r#", "relationships": [
    {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-shop"},
    {"spdxElementId": "SPDXRef-shop", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "SPDXRef-lib"}]"#;
    let r = ok(&spdx(describes));
    assert_eq!(r.format, "SPDX 2.3 JSON");
    assert_eq!((r.components, r.with_purl, r.with_hashes), (3, 1, 2), "{r:?}");
    assert_eq!(r.subject.as_deref(), Some("shop@2.1.0"));
    assert_eq!(
        r.describes.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        [format!("sha256:{}", SHA_B.to_ascii_lowercase())]
    );

    let described_by = r#", "relationships": [
    {"spdxElementId": "SPDXRef-lib", "relationshipType": "DESCRIBED_BY", "relatedSpdxElement": "SPDXRef-DOCUMENT"}]"#;
    let r = ok(&spdx(described_by));
    assert_eq!(r.subject.as_deref(), Some("lib@1.0"));
    assert_eq!(r.describes.iter().map(|d| d.to_string()).collect::<Vec<_>>(), [format!("sha256:{SHA_A}")]);

    // A described file gives its digest; it names the subject only when no package does.
    let r = ok(&spdx(r#", "documentDescribes": ["SPDXRef-bin"]"#));
    assert_eq!(r.subject.as_deref(), Some("./shop.bin"));
    assert_eq!(r.describes.len(), 1);
    let r = ok(&spdx(r#", "documentDescribes": ["SPDXRef-bin", "SPDXRef-lib", "SPDXRef-shop"]"#));
    assert_eq!(r.subject.as_deref(), Some("shop@2.1.0, lib@1.0"));
    assert_eq!(r.describes.len(), 2, "the file and lib share a digest: {r:?}");

    // Nothing described: no subject, no digest, so the SBOM describes no artefact.
    let r = ok(&spdx(""));
    assert_eq!((r.subject, r.describes.len()), (None, 0));
}

#[test]
fn spdx_refusals_name_the_path() {
    let e = err(&spdx(r#", "documentDescribes": ["SPDXRef-shop"]"#).replace(SHA_B, "zz"));
    assert_eq!(
        e.to_string(),
        "at `packages[0].checksums[1].checksumValue`: `zz` is not a SHA-256 digest; expected sha256: followed by 64 hex digits"
    );

    // A malformed digest of a package the document does not describe is not read.
    assert_eq!(ok(&spdx("").replace(SHA_B, "zz")).components, 3);

    let e = err(&spdx("").replace("SPDX-2.3", "SPDX-2.2"));
    assert_eq!(e.to_string(), "at `spdxVersion`: SPDX version \"SPDX-2.2\" is not read; expected \"SPDX-2.3\"");

    let e = err(&spdx(r#", "documentDescribes": [7]"#));
    assert_eq!(e.to_string(), "at `documentDescribes[0]`: expected a string, found a number");

    let e = err(r#"{"spdxVersion": "SPDX-2.3", "packages": [true]}"#);
    assert_eq!(e.to_string(), "at `packages[0]`: expected a package object, found a boolean");
}
