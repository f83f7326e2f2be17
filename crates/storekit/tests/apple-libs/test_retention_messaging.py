"""Apple's unmodified Python AppStoreServerAPIClient against a running crabapple's Retention
Messaging API: images (real PNGs written here with zlib), messages, default messages, the
realtime URL and the performance test against a local Get Retention Message endpoint (each
request checked with SignedDataVerifier.verify_and_decode_realtime_request), with the
APIException codes of each path.

Environment: CRABAPPLE_BASE_URL, CRABAPPLE_DATA (see conftest.py).
"""

import json
import struct
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from appstoreserverlibrary.api_client import APIError, APIException
from appstoreserverlibrary.models.BulletPoint import BulletPoint
from appstoreserverlibrary.models.DefaultConfigurationRequest import DefaultConfigurationRequest
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.HeaderPosition import HeaderPosition
from appstoreserverlibrary.models.ImageSize import ImageSize
from appstoreserverlibrary.models.ImageState import ImageState
from appstoreserverlibrary.models.MessageState import MessageState
from appstoreserverlibrary.models.PerformanceTestRequest import PerformanceTestRequest
from appstoreserverlibrary.models.PerformanceTestStatus import PerformanceTestStatus
from appstoreserverlibrary.models.RealtimeUrlRequest import RealtimeUrlRequest
from appstoreserverlibrary.models.UploadMessageImage import UploadMessageImage
from appstoreserverlibrary.models.UploadMessageRequestBody import UploadMessageRequestBody
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier

from conftest import admin, event


def png(width, height, color_type=2):
    """A one-colour PNG (ISO/IEC 15948): colour type 2 (RGB) or 6 (RGBA), 8 bits."""
    px = bytes([20, 120, 220, 255] if color_type == 6 else [20, 120, 220])
    raw = (b"\0" + px * width) * height

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def api_error(fn, *args):
    with pytest.raises(APIException) as e:
        fn(*args)
    return (e.value.http_status_code, e.value.api_error)


def review(world, kind, ident, state):
    admin("PUT", f"/commerce/messaging/{world.bundle}/sandbox/{kind}/{ident}", {"state": state})


def test_images(sandbox, production):
    full, bullet = str(uuid.uuid4()), str(uuid.uuid4())
    sandbox.upload_image(full, png(3840, 160))
    sandbox.upload_image(bullet, png(64, 64), ImageSize.BULLET_POINT)
    items = {str(i.imageIdentifier): i for i in sandbox.get_image_list().imageIdentifiers}
    assert items[full].imageState == ImageState.PENDING
    assert items[full].imageSize == ImageSize.FULL_SIZE
    assert items[bullet].imageSize == ImageSize.BULLET_POINT
    assert not production.get_image_list().imageIdentifiers
    assert api_error(sandbox.upload_image, full, png(3840, 160)) == (409, APIError.IMAGE_ALREADY_EXISTS)
    for bad in [png(3840, 160, 6), b"GIF89a", png(3840, 2161), png(100, 100)]:
        assert api_error(sandbox.upload_image, str(uuid.uuid4()), bad) == (400, APIError.INVALID_IMAGE)
    sandbox.delete_image(full)
    assert api_error(sandbox.delete_image, full) == (404, APIError.IMAGE_NOT_FOUND)
    sandbox.delete_image(bullet)


def test_messages_and_default(world, sandbox):
    image, bullet, ident = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    sandbox.upload_image(image, png(3840, 640))
    sandbox.upload_image(bullet, png(96, 96), ImageSize.BULLET_POINT)
    body = UploadMessageRequestBody(
        header="Before you go", body="Your next month is half price.",
        image=UploadMessageImage(imageIdentifier=image, altText="A coupon"),
        headerPosition=HeaderPosition.ABOVE_IMAGE,
        bulletPoints=[BulletPoint(text="Offline mode", imageIdentifier=bullet, altText="icon")])
    sandbox.upload_message(ident, body)
    items = {str(m.messageIdentifier): m for m in sandbox.get_message_list().messageIdentifiers}
    assert items[ident].messageState == MessageState.PENDING
    assert api_error(sandbox.upload_message, ident, body) == (409, APIError.MESSAGE_ALREADY_EXISTS)
    assert api_error(sandbox.delete_image, image) == (403, APIError.IMAGE_IN_USE)
    request = DefaultConfigurationRequest(messageIdentifier=ident)
    assert api_error(sandbox.configure_default_message, world.monthly, "en-US", request) == \
        (403, APIError.MESSAGE_NOT_APPROVED)
    review(world, "messages", ident, "APPROVED")
    assert api_error(sandbox.configure_default_message, world.monthly, "en-US", request) == \
        (403, APIError.IMAGE_NOT_APPROVED)
    review(world, "images", image, "APPROVED")
    review(world, "images", bullet, "APPROVED")
    sandbox.configure_default_message(world.monthly, "en-US", request)
    assert str(sandbox.get_default_message(world.monthly, "en-US").messageIdentifier) == ident
    assert api_error(sandbox.get_default_message, world.monthly, "fr-FR") == \
        (404, APIError.DEFAULT_MESSAGE_NOT_FOUND)
    assert api_error(sandbox.configure_default_message, world.monthly, "english", request) == \
        (400, APIError.INVALID_LOCALE)
    sandbox.delete_default_message(world.monthly, "en-US")
    sandbox.delete_message(ident)
    assert api_error(sandbox.delete_message, ident) == (404, APIError.MESSAGE_NOT_FOUND)


class Endpoint:
    """A Get Retention Message endpoint answering a RealtimeResponseBody."""

    def __init__(self):
        self.payloads = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("content-length", 0))
                outer.payloads.append(json.loads(self.rfile.read(n) or b"{}").get("signedPayload"))
                reply = json.dumps({"message": {"messageIdentifier": str(uuid.uuid4())}}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *a):
                pass

        class Server(ThreadingHTTPServer):
            # The test sends 10 requests at once: more than the default listen backlog of 5.
            request_queue_size = 64

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/retention"


def test_realtime_url_and_performance_test(world, sandbox, production):
    endpoint = Endpoint()
    try:
        assert api_error(sandbox.get_realtime_url) == (404, APIError.REALTIME_URL_NOT_FOUND)
        assert api_error(sandbox.configure_realtime_url, RealtimeUrlRequest(realtimeURL="ftp://x.example/r")) == \
            (400, APIError.BAD_REQUEST_REALTIME_URL)
        assert api_error(production.configure_realtime_url, RealtimeUrlRequest(realtimeURL="https://x.example/r")) == \
            (403, APIError.FORBIDDEN_NO_PASSING_TEST)
        sandbox.configure_realtime_url(RealtimeUrlRequest(realtimeURL=endpoint.url))
        assert sandbox.get_realtime_url().realtimeURL == endpoint.url
        sub = event("purchase", bundleId=world.bundle, productId=world.monthly, customer="retention")
        started = sandbox.initiate_performance_test(PerformanceTestRequest(originalTransactionId=sub["transactionId"]))
        assert started.config.totalRequests == 100
        deadline = time.time() + 20
        while True:
            result = sandbox.get_performance_test_results(started.requestId)
            if result.result != PerformanceTestStatus.PENDING or time.time() > deadline:
                break
            time.sleep(0.1)
        assert result.result == PerformanceTestStatus.PASS
        assert (result.successRate, result.numPending, result.target) == (100, 0, endpoint.url)
        verifier = SignedDataVerifier([world.root], False, Environment.SANDBOX, world.bundle)
        assert len(endpoint.payloads) == 100
        for jws in endpoint.payloads:
            d = verifier.verify_and_decode_realtime_request(jws)
            assert (d.originalTransactionId, d.productId) == (sub["transactionId"], world.monthly)
        assert api_error(sandbox.get_performance_test_results, str(uuid.uuid4())) == \
            (404, APIError.PERFORMANCE_TEST_RUN_NOT_FOUND)
        production.configure_realtime_url(RealtimeUrlRequest(realtimeURL="https://x.example/prod"))
        production.delete_realtime_url()
        sandbox.delete_realtime_url()
    finally:
        endpoint.server.shutdown()
