"""A test upstream on the standard library's wsgiref: echoes PATH_INFO, the HTTP_FINORA_* environ keys and urlsplit's reading."""

import json
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, make_server


def app(environ, start_response):
    raw = environ['RAW_TARGET']
    split = urlsplit(raw)
    body = json.dumps({
        'path_info': environ['PATH_INFO'],
        'finora': {k: v for k, v in environ.items() if k.startswith('HTTP_FINORA_')},
        'forwarding': {k: v for k, v in environ.items() if k in ('HTTP_FORWARDED', 'HTTP_X_REAL_IP', 'HTTP_X_FORWARDED_FOR')},
        'urlsplit': {'netloc': split.netloc, 'path': split.path},
        'target': raw,
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]


class Handler(WSGIRequestHandler):
    def get_environ(self):
        env = super().get_environ()
        # The target exactly as received (self.path has a leading '//' already collapsed by http.server).
        env['RAW_TARGET'] = self.requestline.split(' ')[1]
        return env

    def log_message(self, *args):
        pass


server = make_server('127.0.0.1', 0, app, handler_class=Handler)
print('listening', server.server_port, flush=True)
server.serve_forever()
