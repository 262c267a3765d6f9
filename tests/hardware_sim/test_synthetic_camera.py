from __future__ import annotations

import http.client
import re
import socket
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from hardware_sim import plate_dataset
from hardware_sim.synthetic_camera import (
    Conditions,
    LiveCamera,
    MjpegServer,
    Pass,
    RtspCamera,
    SyntheticCameraError,
    Truck,
    _has_glyph,
    cjk_font,
    compose,
    encode_jpeg,
    frames,
    latin_font,
    plate_vrn,
    random_hk_plate,
    random_mainland_plate,
    render_hk_plate,
    render_mainland_plate,
    rtp_jpeg,
    scenario,
    write_video,
)
from rocars.ids import is_mainland_plate, normalize_plate, normalize_vrn

HK_STANDARD = re.compile(r"^[A-HJ-NPR-Z]{2} [1-9][0-9]{0,3}$")


def test_random_plates_follow_the_grammar() -> None:
    rng = np.random.default_rng(1)
    for _ in range(300):
        printed = random_hk_plate(rng)
        assert HK_STANDARD.match(printed), printed
        assert normalize_vrn(printed) == plate_vrn(printed)
        mainland = random_mainland_plate(rng)
        assert normalize_plate(mainland.replace("·", "")) == plate_vrn(mainland)
        assert is_mainland_plate(plate_vrn(mainland))


def test_plate_colours_white_front_yellow_rear_black_mainland() -> None:
    front = render_hk_plate("AB 1234", "front", 520)
    rear = render_hk_plate("AB 1234", "rear", 520)
    mainland = render_mainland_plate("粤Z·F023港", 440)
    assert front.shape == (114, 520, 3)
    assert mainland.shape == (140, 440, 3)
    b, g, r = (int(v) for v in np.median(front[10:20, 10:60].reshape(-1, 3), axis=0))
    assert min(b, g, r) > 220  # white
    b, g, r = (int(v) for v in np.median(rear[10:20, 10:60].reshape(-1, 3), axis=0))
    assert r > 220
    assert g > 170
    assert b < 60
    assert int(np.median(mainland[15:25, 15:40])) < 40  # black
    # dark characters fill the middle of the HK plate; white ones the Mainland plate
    assert (front[30:85, 60:460] < 80).all(axis=2).mean() > 0.15
    assert (mainland[30:110, 40:400] > 200).all(axis=2).mean() > 0.1


def test_chinese_glyphs_render_and_tofu_is_detected() -> None:
    assert _has_glyph(cjk_font(48), "粤")
    assert _has_glyph(cjk_font(48), "港")
    assert not _has_glyph(latin_font(48), "粤")  # DejaVu has no 粤: that check works
    plate = render_mainland_plate("粤Z·F023港", 440)
    left = (plate[25:115, 10:110] > 200).all(axis=2).mean()  # where 粤 is drawn
    assert left > 0.1


def test_scenes_are_deterministic_from_the_seed() -> None:
    assert scenario(5, seed=3) == scenario(5, seed=3)
    assert scenario(5, seed=3) != scenario(5, seed=4)
    truck = Truck("AB 1234", "粤Z·F023港")
    one = compose(
        truck,
        size=(640, 360),
        rng=np.random.default_rng(9),
        conditions=Conditions(night=0.8, blur=0.5, yaw_deg=20),
    )
    two = compose(
        truck,
        size=(640, 360),
        rng=np.random.default_rng(9),
        conditions=Conditions(night=0.8, blur=0.5, yaw_deg=20),
    )
    assert one.shape == (360, 640, 3)
    assert np.array_equal(one, two)
    empty = compose(None, size=(640, 360), rng=np.random.default_rng(9))
    assert not np.array_equal(one, empty)


def test_night_is_darker_than_day() -> None:
    truck = Truck("AB 1234")
    day = compose(truck, size=(640, 360), rng=np.random.default_rng(1))
    night = compose(
        truck, size=(640, 360), rng=np.random.default_rng(1), conditions=Conditions(night=1.0)
    )
    assert night.mean() < day.mean() * 0.6


def test_video_file_has_every_frame(tmp_path: Path) -> None:
    passes = [Pass(Truck("AB 1234"), approach=3, dwell=2, leave=2, gap=1)]
    expected = len(list(frames(passes, (320, 240))))
    path = tmp_path / "v.avi"
    assert write_video(path, passes, size=(320, 240), fps=10) == expected
    cap = cv2.VideoCapture(str(path))
    count = 0
    for _ in range(expected + 5):
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (240, 320, 3)
        count += 1
    cap.release()
    assert count == expected
    with pytest.raises(SyntheticCameraError):
        write_video(tmp_path / "no" / "such" / "dir.avi", passes, size=(320, 240))


def _read_part(response: http.client.HTTPResponse) -> bytes:
    headers: dict[str, str] = {}
    for _ in range(10):
        line = response.fp.readline().decode().strip()
        if line.startswith("--"):
            continue
        if not line and headers:
            break
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.lower()] = value.strip()
    return response.fp.read(int(headers["content-length"]))


def test_mjpeg_server_streams_and_stops() -> None:
    frames_ = [
        compose(Truck("AB 1234"), size=(320, 240), plate_width=80, rng=np.random.default_rng(i))
        for i in range(3)
    ]
    server = MjpegServer.from_frames(frames_, fps=20)
    with server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/stream.mjpg")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("multipart/x-mixed-replace")
        for _ in range(3):
            image = cv2.imdecode(np.frombuffer(_read_part(response), np.uint8), cv2.IMREAD_COLOR)
            assert image is not None
            assert image.shape == (240, 320, 3)
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/frame.jpg")
        snapshot = conn.getresponse()
        assert snapshot.status == 200
        assert snapshot.read()[:2] == b"\xff\xd8"
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/other")
        assert conn.getresponse().status == 404
        conn.close()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", server.port), timeout=1),
    ):
        pass
    with pytest.raises(SyntheticCameraError):
        MjpegServer([])


def test_dataset_is_labelled_and_deterministic(tmp_path: Path) -> None:
    one = plate_dataset.generate(tmp_path / "a", clean=3, hard=3, seed=5, size=(640, 360))
    two = plate_dataset.generate(tmp_path / "b", clean=3, hard=3, seed=5, size=(640, 360))
    assert one == two == plate_dataset.load_labels(tmp_path / "a")
    assert [label.set for label in one] == ["clean"] * 3 + ["hard"] * 3
    assert {label.condition for label in one} == {"day", "night", "blur", "angle"}
    for label in one:
        assert normalize_vrn(label.vrn) == label.vrn
        assert not label.mainland or is_mainland_plate(label.mainland)
        assert (tmp_path / "a" / label.file).read_bytes() == (
            tmp_path / "b" / label.file
        ).read_bytes()
    assert plate_dataset.main([str(tmp_path / "c"), "--clean", "1", "--hard", "0"]) == 0
    assert len(plate_dataset.load_labels(tmp_path / "c")) == 1


def test_a_live_camera_never_sends_the_same_picture_twice_in_a_row() -> None:
    """The empty lane changes with the sensor's noise, as a real camera's does: the same
    image over and over is what a frozen camera sends."""
    camera = LiveCamera(size=(320, 240), fps=50)
    shown: list[bytes] = []
    with camera:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            frame = camera.current()
            assert frame is not None
            if not shown or frame != shown[-1]:
                shown.append(frame)
            time.sleep(0.005)
    assert len(set(shown)) >= 5
    one, two = (cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) for j in shown[:2])
    assert one is not None
    assert two is not None
    assert not np.array_equal(one, two)


def test_write_video_lead_in(tmp_path: Path) -> None:
    passes = [Pass(Truck("AB 1234"), approach=0, dwell=2, leave=1, gap=1)]
    assert write_video(tmp_path / "v.avi", passes, size=(320, 240), lead_in=0) == 4
    assert write_video(tmp_path / "w.avi", passes, size=(320, 240), lead_in=3) == 7


def test_rtsp_camera_frames_carry_the_time_they_were_taken() -> None:
    """RTP/JPEG over RTSP: OpenCV (FFmpeg) decodes the frames, and their presentation
    times follow the camera's clock, 1/fps apart (FFmpeg gives the first two 0)."""
    shown = list(frames([Pass(Truck("AB 1234"), approach=4, dwell=2, leave=2, gap=2)], (320, 240)))
    with RtspCamera.from_frames(shown, fps=25) as camera:
        cap = cv2.VideoCapture(
            camera.url,
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000],
        )
        try:
            assert cap.isOpened()
            times = []
            for _ in range(len(shown)):
                ok, frame = cap.read()
                assert ok
                assert frame.shape == (240, 320, 3)
                times.append(cap.get(cv2.CAP_PROP_POS_MSEC))
        finally:
            cap.release()
        # the picture survives the trip (JPEG again, so close, not equal)
        assert float(np.abs(frame.astype(int) - shown[-1].astype(int)).mean()) < 6
    assert times[:2] == [0.0, 0.0]
    assert np.diff(times[1:]) == pytest.approx(40.0)
    assert len(camera.connections) == 1


@pytest.mark.parametrize(
    ("image", "params", "why"),
    [
        (np.zeros((100, 100, 3), np.uint8), [], "multiples of 8"),
        (np.zeros((64, 64, 3), np.uint8), [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, 0x111111], "sampling"),
        (np.zeros((64, 64), np.uint8), [], "sampling"),
    ],
)
def test_rtsp_camera_refuses_jpegs_rtp_cannot_carry(
    image: np.ndarray, params: list[int], why: str
) -> None:
    jpeg = cv2.imencode(".jpg", image, params)[1].tobytes()
    with pytest.raises(SyntheticCameraError) as err:
        RtspCamera([jpeg])
    assert err.value.key == "sim_camera_rtp"
    assert why in str(err.value)
    assert rtp_jpeg(encode_jpeg(np.zeros((64, 80, 3), np.uint8)))[:3] == (1, 80, 64)
