#!/usr/bin/env python3
"""Fake peers for tests/engine/packaging/systemd_test.sh, run inside the nspawn container.

  nspawn_fake_endpoints.py tls CERT KEY PODS_JSON TASK_JSON
      a kubelet on https://127.0.0.1:10250 (GET /pods) and an ECS task metadata endpoint on
      https://127.0.0.1:10251 (GET /v4/task, /v4/taskWithTags), answering recorded real
      responses (tests/fixtures) over TLS with CERT/KEY.
  nspawn_fake_endpoints.py docker SOCKET GROUP NAME
      a Docker Engine API on the unix socket SOCKET (group GROUP, mode 0660) with one running
      container NAME labelled for http_check: /_ping, /version, /containers/json,
      /containers/ID/json, /events (kept open). Used only when dockerd cannot run here.
Each request is logged on stderr (the journal of the transient unit running it).
"""
import grp
import http.server
import json
import os
import socket
import socketserver
import ssl
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes = {}  # path -> (status, body bytes)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.server.label, fmt % args))

    def send_body(self, status, body, content_type="application/json", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if self.server.label == "docker":
            return self.docker(path)
        if path in self.routes:
            status, body = self.routes[path]
            return self.send_body(status, body)
        self.send_body(404, b'{"message":"not found"}')

    # A Docker Engine API with one container, enough for the docker listener.
    def docker(self, path):
        version = {"ApiVersion": "1.41", "Version": "20.10.24-fake", "MinAPIVersion": "1.12"}
        now = str(int(time.time()))
        for prefix in ("/v1.41", "/v1.40"):
            if path.startswith(prefix + "/"):
                path = path[len(prefix):]
        c = self.server.container
        if path == "/_ping":
            return self.send_body(200, b"OK", "text/plain",
                                  {"API-Version": "1.41", "Docker-Experimental": "false", "Date": self.date_time_string()})
        if path == "/version":
            return self.send_body(200, json.dumps(version).encode(), extra={"Date": self.date_time_string()})
        if path == "/containers/json":
            summary = {"Id": c["Id"], "Names": [c["Name"]], "Image": c["Config"]["Image"],
                       "ImageID": c["Image"], "Labels": c["Config"]["Labels"], "State": "running",
                       "Status": "Up", "Created": int(now)}
            return self.send_body(200, json.dumps([summary]).encode())
        if path == "/containers/%s/json" % c["Id"] or path == "/containers/%s/json" % c["Name"]:
            return self.send_body(200, json.dumps(c).encode())
        if path.startswith("/images/"):
            return self.send_body(200, json.dumps({"Id": c["Image"], "RepoTags": [c["Config"]["Image"]]}).encode())
        if path == "/events":
            # A stream that never ends (chunked, nothing to say).
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            try:
                while True:
                    time.sleep(3600)
            except Exception:
                return
        self.send_body(404, b'{"message":"page not found"}')

    do_HEAD = do_GET


class TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        conn, _ = self.socket.accept()
        return conn, ("docker", 0)


def serve_tls(cert, key, pods, task):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    with open(pods, "rb") as f:
        pods_body = f.read()
    with open(task, "rb") as f:
        task_body = f.read()
    servers = []
    for port, label, routes in ((10250, "kubelet", {"/pods": (200, pods_body)}),
                                (10251, "ecs", {"/v4/task": (200, task_body), "/v4/taskWithTags": (200, task_body)})):
        handler = type(label, (Handler,), {"routes": routes})
        srv = TLSServer(("127.0.0.1", port), handler)
        srv.label = label
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        servers.append(srv)
    for srv in servers[1:]:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    sys.stderr.write("listening: kubelet https://127.0.0.1:10250, ecs https://127.0.0.1:10251\n")
    servers[0].serve_forever()


def serve_docker(path, group, name):
    cid = "%064x" % int.from_bytes(os.urandom(32), "big")
    container = {
        "Id": cid, "Name": "/" + name, "Image": "sha256:" + "1" * 64,
        "Created": "2026-01-01T00:00:00Z", "RestartCount": 0,
        "State": {"Status": "running", "Running": True, "Paused": False, "Restarting": False,
                  "Pid": 4242, "StartedAt": "2026-01-01T00:00:01Z"},
        "Config": {"Hostname": cid[:12], "Image": "localtest/busybox:latest", "Env": [],
                   "Labels": {"com.datadoghq.ad.check_names": '["http_check"]',
                              "com.datadoghq.ad.init_configs": "[{}]",
                              "com.datadoghq.ad.instances": '[{"name": "%s", "url": "http://localhost:8080/health"}]' % name}},
        "HostConfig": {"NetworkMode": "none"},
        "NetworkSettings": {"Ports": {}, "Networks": {"none": {"IPAddress": ""}}},
    }
    handler = type("docker", (Handler,), {})
    if os.path.exists(path):
        os.unlink(path)
    srv = UnixServer(path, handler)
    srv.label = "docker"
    srv.container = container
    os.chown(path, 0, grp.getgrnam(group).gr_gid)
    os.chmod(path, 0o660)
    sys.stderr.write("listening: docker unix://%s container %s %s\n" % (path, name, cid[:12]))
    srv.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "tls":
        serve_tls(*sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "docker":
        serve_docker(*sys.argv[2:])
    else:
        sys.exit(__doc__)
