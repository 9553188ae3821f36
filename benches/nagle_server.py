"""An Anthropic-style SSE server on Python's http.server, as several local model servers are
written: no TCP_NODELAY, one write per event. Used by benches/run.py to measure the gap
between a reply and the next request where Nagle's algorithm holds small writes back.

    python3 benches/nagle_server.py PORT TOOL_TURNS LOG_FILE

Answers with a Read call for the first TOOL_TURNS requests of a conversation, then with
text; appends {"received", "stop_written"} (seconds, perf_counter) per request to LOG_FILE.
"""
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        n = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(n))
        t0 = time.perf_counter()
        turns = sum(1 for m in body["messages"] if m["role"] == "assistant")
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        def ev(name, data):
            payload = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        ev("message_start", {"type": "message_start", "message": {"id": f"m{turns}", "type": "message", "role": "assistant", "model": "x", "content": [], "usage": {"input_tokens": 1, "output_tokens": 1}}})
        if turns < int(sys.argv[2]):
            ev("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": f"t{turns}", "name": "Read", "input": {}}})
            ev("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": json.dumps({"file_path": f"f{turns % 5}.txt"})}})
            ev("content_block_stop", {"type": "content_block_stop", "index": 0})
            ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}})
        else:
            ev("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
            ev("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "done"}})
            ev("content_block_stop", {"type": "content_block_stop", "index": 0})
            ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}})
        ev("message_stop", {"type": "message_stop"})
        t_stop = time.perf_counter()
        self.wfile.write(b"0\r\n\r\n")
        with open(sys.argv[3], "a") as f:
            f.write(json.dumps({"received": t0, "stop_written": t_stop}) + "\n")

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
