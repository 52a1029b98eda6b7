import orjson

from cpragate.demo.data import generate


def test_deterministic_and_about_a_thousand_records() -> None:
    a, b = generate(), generate()
    assert orjson.dumps(a.__dict__) == orjson.dumps(b.__dict__)
    assert 900 <= a.record_count <= 1100


def test_records_have_the_personal_data_the_demo_needs() -> None:
    d = generate(20, 10, 10)
    c = d.customers[0]
    for key in ("name", "email", "phone", "ssn", "date_of_birth", "address", "card_number", "location", "password_hash"):
        assert key in c
    assert len(str(c["location"]["lat"]).split(".")[1]) >= 4  # precise geolocation (SPI)
    digits = [int(x) for x in c["card_number"]]
    checksum = sum(digits[-1::-2]) + sum(sum(divmod(2 * x, 10)) for x in digits[-2::-2])
    assert checksum % 10 == 0  # Luhn-valid
    assert all(t["body"] for t in d.tickets)
