#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seed inputs: files copied from the shared test data (which
# must never be committed here; corpus/ is gitignored) plus a few small hand-written inputs.
# Usage: fuzz/seed.sh [TESTDATA_DIR]   (default: ../shared/testdata next to the repository)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
testdata="${1:-${TESTDATA:-$here/../../shared/testdata}}"
corpus="$here/corpus"

if [ ! -d "$testdata" ]; then
  echo "seed.sh: no test data at $testdata; only the hand-written seeds are written" >&2
fi

# copy TARGET FILE...: copies the files that exist, named by their path under the test data.
copy() {
  local target="$1"; shift
  mkdir -p "$corpus/$target"
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    local name="${f#"$testdata"/}"
    cp "$f" "$corpus/$target/${name//\//_}"
  done
}

# write TARGET NAME: the seed read from stdin.
write() {
  mkdir -p "$corpus/$1"
  cat > "$corpus/$1/$2"
}

shopt -s nullglob

copy junit "$testdata"/junit/*/*.xml
copy sarif "$testdata"/sarif/*.sarif "$testdata"/sarif/*.json
copy sbom "$testdata"/cyclonedx/*.json "$testdata"/cyclonedx/*.xml "$testdata"/spdx/*.json
copy vulns "$testdata"/cyclonedx/VEX_*vex*.json
copy tfplan "$testdata"/terraform/*.json
copy sigstore_bundle "$testdata"/sigstore-conformance/bundle-verify/*/bundle.sigstore.json
# DSSE envelopes, as found in the conformance bundles, are not extracted: the hand-written one
# below verifies against the target's key, which reaches deeper.
copy provenance "$testdata"/sigstore-conformance/statement.json

write cvss v2 <<<'AV:N/AC:L/Au:N/C:P/I:P/A:P'
write cvss v30 <<<'CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'
write cvss v31 <<<'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H/E:F/RL:O/RC:C/CR:H/MAV:A'
write cvss v40 <<<'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N'
write cvss v40-full <<<'CVSS:4.0/AV:L/AC:H/AT:P/PR:L/UI:A/VC:L/VI:N/VA:N/SC:L/SI:H/SA:N/E:A/CR:H/IR:M/AR:L/MAV:N/S:P/AU:Y/R:U/V:C/RE:H/U:Red'

write perf json <<'JSON'
{"metrics": [
  {"name": "checkout_p95_ms", "unit": "ms", "baseline": 180, "value": 195, "better": "lower", "slo": true},
  {"name": "orders_per_second", "unit": "req/s", "baseline": 1200, "value": 1250.5, "better": "higher"},
  {"name": "error_rate", "baseline": 0, "value": 0.001, "slo": false}
]}
JSON
write perf csv <<'CSV'
metric,unit,baseline,value,better,slo
checkout_p95_ms,ms,180,195,lower,true
"orders, per second",req/s,1200,1250.5,higher,
error_rate,,0,0.001,,false
CSV

write vulns grype.json <<'JSON'
{"matches":[{"vulnerability":{"id":"CVE-2021-44228","dataSource":"https://nvd.nist.gov/vuln/detail/CVE-2021-44228","namespace":"nvd:cpe","severity":"Critical","urls":[],"description":"d","cvss":[{"source":"nvd@nist.gov","type":"Primary","version":"3.1","vector":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H","metrics":{"baseScore":10.0},"vendorMetadata":{}}],"fix":{"versions":["2.15.0"],"state":"fixed"},"advisories":[]},"relatedVulnerabilities":[{"id":"CVE-2021-1","severity":"High","cvss":[{"version":"2.0","vector":"AV:N/AC:L/Au:N/C:P/I:P/A:P","metrics":{"baseScore":7.5}}]}],"matchDetails":[],"artifact":{"id":"a1","name":"log4j-core","version":"2.14.1","type":"java-archive","locations":[],"language":"java","licenses":[],"cpes":[],"purl":"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1","upstreams":[]}}],
 "ignoredMatches":[{"vulnerability":{"id":"CVE-2022-2222","severity":"Low","cvss":[]},"artifact":{"name":"b","version":"1","purl":""},"appliedIgnoreRules":[{"vulnerability":"CVE-2022-2222","vex-status":"not_affected","vex-justification":"vulnerable_code_not_present"}]}],
 "source":{"type":"image","target":{"userInput":"app:1.0"}},"descriptor":{"name":"grype","version":"0.74.0"}}
JSON
write vulns trivy.json <<'JSON'
{"SchemaVersion":2,"ArtifactName":"alpine:3.15","ArtifactType":"container_image","Results":[{"Target":"alpine:3.15 (alpine 3.15.0)","Class":"os-pkgs","Type":"alpine","Vulnerabilities":[{"VulnerabilityID":"CVE-2022-0778","PkgName":"libssl1.1","PkgIdentifier":{"PURL":"pkg:apk/alpine/libssl1.1@1.1.1l-r7"},"InstalledVersion":"1.1.1l-r7","FixedVersion":"1.1.1n-r0","Status":"fixed","Title":"openssl: infinite loop","Severity":"HIGH","CVSS":{"nvd":{"V2Vector":"AV:N/AC:L/Au:N/C:N/I:N/A:P","V3Vector":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H","V2Score":5,"V3Score":7.5}}}]},{"Target":"Dockerfile","Class":"config","Type":"dockerfile","Misconfigurations":[{"ID":"DS002","Title":"root user","Severity":"HIGH","Status":"FAIL","CauseMetadata":{"StartLine":1}},{"ID":"DS001","Title":"latest tag","Severity":"MEDIUM","Status":"EXCEPTION"}]},{"Target":"app/.env","Class":"secret","Secrets":[{"RuleID":"aws-access-key-id","Title":"AWS Access Key ID","Severity":"CRITICAL","StartLine":3}]}]}
JSON
write vulns osv-scanner.json <<'JSON'
{"results":[{"source":{"path":"/app/package-lock.json","type":"lockfile"},"packages":[{"package":{"name":"lodash","version":"4.17.20","ecosystem":"npm"},"vulnerabilities":[{"id":"GHSA-35jh-r3h4-6jhm","aliases":["CVE-2021-23337"],"summary":"Command Injection in lodash","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"}],"database_specific":{"severity":"HIGH"}}],"groups":[{"ids":["GHSA-35jh-r3h4-6jhm","CVE-2021-23337"],"aliases":["GHSA-35jh-r3h4-6jhm","CVE-2021-23337"],"max_severity":"7.2"}]}]}]}
JSON
write vulns osv-records.json <<'JSON'
[{"id":"RUSTSEC-2021-0001","modified":"2021-01-01T00:00:00Z","summary":"s","severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}],"affected":[{"package":{"ecosystem":"crates.io","name":"foo","purl":"pkg:cargo/foo"},"severity":[{"type":"Ubuntu","score":"medium"}]}],"database_specific":{"severity":"MODERATE"}}]
JSON

write provenance slsa-v1.json <<'JSON'
{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"app.tar.gz","digest":{"sha256":"abababababababababababababababababababababababababababababababab"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1","externalParameters":{"workflow":{"ref":"refs/tags/v1","repository":"https://github.com/acme/app","path":".github/workflows/release.yml"}},"resolvedDependencies":[{"uri":"git+https://github.com/acme/app@refs/tags/v1","digest":{"gitCommit":"9f1c2e7a9f1c2e7a9f1c2e7a9f1c2e7a9f1c2e7a"}}]},"runDetails":{"builder":{"id":"https://github.com/actions/runner/github-hosted"}}}}
JSON

write dsse signed-envelope.json <<'JSON'
{"payloadType": "application/vnd.in-toto+json", "payload": "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEiLCJzdWJqZWN0IjpbeyJuYW1lIjoiYXBwLnRhci5neiIsImRpZ2VzdCI6eyJzaGEyNTYiOiJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiIn19XSwicHJlZGljYXRlVHlwZSI6Imh0dHBzOi8vc2xzYS5kZXYvcHJvdmVuYW5jZS92MSIsInByZWRpY2F0ZSI6eyJidWlsZERlZmluaXRpb24iOnsiYnVpbGRUeXBlIjoiaHR0cHM6Ly9zbHNhLWZyYW1ld29yay5naXRodWIuaW8vZ2l0aHViLWFjdGlvbnMtYnVpbGR0eXBlcy93b3JrZmxvdy92MSIsImV4dGVybmFsUGFyYW1ldGVycyI6eyJ3b3JrZmxvdyI6eyJyZWYiOiJyZWZzL3RhZ3MvdjEiLCJyZXBvc2l0b3J5IjoiaHR0cHM6Ly9naXRodWIuY29tL2FjbWUvYXBwIiwicGF0aCI6Ii5naXRodWIvd29ya2Zsb3dzL3JlbGVhc2UueW1sIn19LCJyZXNvbHZlZERlcGVuZGVuY2llcyI6W3sidXJpIjoiZ2l0K2h0dHBzOi8vZ2l0aHViLmNvbS9hY21lL2FwcEByZWZzL3RhZ3MvdjEiLCJkaWdlc3QiOnsiZ2l0Q29tbWl0IjoiOWYxYzJlN2E5ZjFjMmU3YTlmMWMyZTdhOWYxYzJlN2E5ZjFjMmU3YSJ9fV19LCJydW5EZXRhaWxzIjp7ImJ1aWxkZXIiOnsiaWQiOiJodHRwczovL2dpdGh1Yi5jb20vYWN0aW9ucy9ydW5uZXIvZ2l0aHViLWhvc3RlZCJ9fX19", "signatures": [{"keyid": "", "sig": "MEUCIQCoNtVt41+AiKxGJkbUxURv9MaG400u83fXUnW8WtTUpgIgae5hhkkje4tIgybJUCqTBFxxzfzHPsKShwU55DuXblI="}]}
JSON

for d in "$corpus"/*/; do printf '%-18s %4d seeds\n' "$(basename "$d")" "$(ls "$d" | wc -l)"; done
