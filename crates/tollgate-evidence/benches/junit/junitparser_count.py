"""Counts a JUnit report the way a user of junitparser would, for the JUnit ingest benchmark.

Usage: junitparser_count.py REPORT.xml
Prints one JSON line: the counts, the wall-clock and CPU seconds spent reading and counting, and
the peak RSS (KiB).
A test case counts once, as its first failure, error or skip says (as Tollgate counts it).
"""

import json
import resource
import sys
import time

import junitparser
from junitparser import Error, Failure, JUnitXml, Skipped


def main(path):
    start = time.perf_counter()
    cpu_start = time.process_time()
    xml = JUnitXml.fromfile(path)
    tests = failures = errors = skipped = 0
    for suite in xml:
        for case in suite:
            tests += 1
            result = case.result
            if not result:
                continue
            first = result[0]
            if isinstance(first, Failure):
                failures += 1
            elif isinstance(first, Error):
                errors += 1
            elif isinstance(first, Skipped):
                skipped += 1
    secs = time.perf_counter() - start
    cpu_secs = time.process_time() - cpu_start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "version": getattr(junitparser, "version", "?"),
                "tests": tests,
                "failures": failures,
                "errors": errors,
                "skipped": skipped,
                "secs": secs,
                "cpu_secs": cpu_secs,
                "peak_rss_kib": peak_kib,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
