"""Per-thread server CPU of a gRPC cache hit: starts the server like bench.py, warms the cache, runs
h2load (-c16 -m32) for 6 s and prints each thread's CPU per call, from /proc/PID/task/*/stat
before and after. Which thread does what: pz-grpc-cq (completion queues, which also read and write
plaintext connections, through the guard), pz-grpc-relay* (accepting, and over TLS the connection
relay), pz-admin-grpc (the admin server's queue, which grpc core also polls with),
default-executor (grpc core's own).

  bazel build -c opt --symlink_prefix=/ //server:personalization-server
  /usr/bin/python3 tests/bench/cache/per_thread.py [--tls] "$(bazel info -c opt bazel-bin)/server/personalization-server" \
      [server flags, e.g. --grpc-relay-threads 2]

--tls: both fronts over TLS (a throwaway P-256 certificate, made with the openssl command), h2load
over https: the relay then decrypts, guards and encrypts.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

SECONDS = 6


def thread_cpu(pid):
    """{tid: (name, CPU seconds)} of every thread of pid."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
        except OSError:
            continue  # the thread ended meanwhile
        out[tid] = (name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))  # utime + stime
    return out


def start_tls_server(binary, tmp, extra):
    """The server over TLS with a throwaway certificate: (process, gRPC port)."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=localhost", "-days", "1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    http_port, grpc_port = bench.free_port(), bench.free_port()
    proc = bench.start([binary, "--demo", "--data-dir", os.path.join(tmp, "data"), "--http-port", str(http_port),
                        "--grpc-port", str(grpc_port), "--admin-port", str(bench.free_port()),
                        "--admin-grpc-port", "0", "--tls-cert", cert, "--tls-key", key, "--log-level", "warn"] + extra,
                       os.path.join(tmp, "server.log"))
    bench.wait_port(grpc_port, proc, "personalization-server", timeout=60)
    deadline = time.time() + 60
    while subprocess.run(["curl", "-skf", "-o", "/dev/null", "https://127.0.0.1:%d/healthz" % http_port]).returncode:
        if time.time() > deadline:
            raise RuntimeError("server never became healthy")
        time.sleep(0.1)
    return proc, grpc_port


def main():
    args = sys.argv[1:]
    tls = args[:1] == ["--tls"]
    if tls:
        args = args[1:]
    binary, extra = args[0], args[1:]
    tmp = tempfile.mkdtemp()
    request = bench.recommend_request_bytes()
    if tls:
        proc, grpc_port = start_tls_server(binary, tmp, extra)
    else:
        proc, _, grpc_port = bench.start_server(binary, tmp, ["--log-level", "warn"] + extra)
    try:
        body = os.path.join(tmp, "request.bin")
        with open(body, "wb") as f:
            f.write(bench.grpc_frame(request))
        url = "%s://127.0.0.1:%d%s" % ("https" if tls else "http", grpc_port, bench.GRPC_METHOD)
        bench.h2load(url, body, 2, pid=proc.pid)  # warm-up: the first call fills the cache
        before = thread_cpu(proc.pid)
        r = bench.h2load(url, body, SECONDS, pid=proc.pid)
        after = thread_cpu(proc.pid)
        print("%.0f calls/s, %.1f us of server CPU per call" % (r["rps"], r["cpu_us"]))
        used = {t: after[t][1] - before.get(t, ("", 0.0))[1] for t in after}
        for tid in sorted(used, key=lambda t: -used[t]):
            if used[tid] > 0:
                print("  %-16s %6.2f us/call" % (after[tid][0], used[tid] / r["done"] * 1e6))
    finally:
        bench.stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
