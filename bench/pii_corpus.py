"""Synthetic PII evaluation corpus: realistic API JSON with ground truth per value.

``generate(seed, n)`` returns ``n`` documents (profiles, orders, payments, support
tickets with free text, location pings, attribute lists with neutral keys), each with:

* ``truth`` -- ``(path, entity, span, slice)``: every PII value; ``span`` is the offset
  range inside a free-text string or None for a whole value; ``slice`` is ``telling``
  (a telling key such as ``ssn``), ``neutral`` (``value``, ``data``, ``attr_3``, ``note``)
  or ``text`` (inside a sentence).
* ``decoys`` -- ``(path, span, kind)``: values that must not be flagged (UUIDs, order
  numbers, invalid-Luhn 16-digit numbers, 9-digit non-SSNs, timestamps, prices,
  version strings).

The tuning seed is ``TUNE_SEED``; ``EVAL_SEED`` is only ever evaluated on.
Run ``python bench/pii_corpus.py --seed 1 --n 3`` to print a few documents.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
from dataclasses import dataclass, field
from typing import Any

import orjson
from faker import Faker

TUNE_SEED = 20240601
EVAL_SEED = 91736455

TEXT_ENTITIES = ("email", "phone", "us_ssn", "credit_card", "iban", "ip_address", "geolocation")
NEUTRAL_KEYS = ("value", "data", "attr_3", "note", "attr_7", "v")


@dataclass
class Doc:
    """One generated document and its labels."""

    body: Any
    truth: list[tuple[str, str, tuple[int, int] | None, str]] = field(default_factory=list)
    decoys: list[tuple[str, tuple[int, int] | None, str]] = field(default_factory=list)

    def json(self) -> bytes:
        return orjson.dumps(self.body)


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.eu = [Faker(loc) for loc in ("de_DE", "fr_FR", "nl_NL", "es_ES", "en_GB", "it_IT")]
        for i, f in enumerate(self.eu):
            f.seed_instance(seed + i + 1)

    # -------------------------------------------------------------- values
    def value(self, entity: str) -> Any:
        f, r = self.fake, self.rng
        if entity == "email":
            return f.email() if r.random() < 0.7 else f.free_email()
        if entity == "phone":
            if r.random() < 0.15:
                return r.choice([f"+44 20 7946 0{r.randrange(1000):03d}", f"+49 30 901820{r.randrange(10)}"])
            return f.phone_number()
        if entity == "us_ssn":
            return f.ssn()
        if entity == "credit_card":
            n = f.credit_card_number(card_type=r.choice(["visa16", "mastercard", "amex", "discover", "visa13"]))
            if r.random() < 0.3 and len(n) == 16:
                sep = r.choice([" ", "-"])
                n = sep.join(n[i : i + 4] for i in range(0, 16, 4))
            return n
        if entity == "iban":
            iban = r.choice(self.eu).iban()
            if r.random() < 0.2:
                iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
            return iban
        if entity == "ip_address":
            if r.random() < 0.3:
                return str(ipaddress.IPv6Address(r.getrandbits(128)))
            return f.ipv4_public()
        if entity == "geolocation":
            return (round(r.uniform(-60, 70), r.randint(4, 6)), round(r.uniform(-170, 170), r.randint(4, 6)))
        if entity == "person":
            return f.name()
        if entity == "street_address":
            return f.street_address()
        if entity == "date_of_birth":
            d = f.date_of_birth(minimum_age=18, maximum_age=90)
            return r.choice([d.isoformat(), d.strftime("%m/%d/%Y")])
        if entity == "aba_routing":
            return f.aba()
        if entity == "us_driver_license":
            return r.choice([f"{r.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}{r.randrange(10**6, 10**7)}", str(r.randrange(10**8, 10**9))])
        if entity == "us_passport":
            return f.passport_number()
        raise ValueError(entity)

    def decoy(self) -> tuple[str, Any]:
        f, r = self.fake, self.rng
        kind = r.choice(["uuid", "order", "badluhn", "nine", "timestamp", "price", "version"])
        if kind == "uuid":
            return kind, str(f.uuid4())
        if kind == "order":
            return kind, r.choice([f"ORD-{r.randrange(2019, 2026)}-{r.randrange(10**6):06d}", f"#{r.randrange(10**7, 10**8)}"])
        if kind == "badluhn":
            while True:
                n = "4" + "".join(str(r.randrange(10)) for _ in range(15))
                if not _luhn(n):
                    return kind, n
        if kind == "nine":
            # 9 digits that are not valid SSNs (area 9xx or 000/666), or plain ids.
            return kind, r.choice([f"9{r.randrange(10**7, 10**8)}", f"000{r.randrange(10**5, 10**6)}", f"666{r.randrange(10**5, 10**6)}"])
        if kind == "timestamp":
            return kind, f.date_time_this_decade().isoformat() + "Z"
        if kind == "price":
            return kind, f"{r.randrange(1, 999)}.{r.randrange(100):02d}"
        return kind, f"{r.randrange(0, 12)}.{r.randrange(0, 40)}.{r.randrange(0, 100)}"

    # -------------------------------------------------------------- free text
    TEMPLATES = {
        "email": ["Please reply to {} when you can.", "my email is {}", "contact: {}"],
        "phone": ["Call me back at {} after 5pm.", "You can reach her on {}.", "phone {} (mobile)"],
        "us_ssn": ["My SSN is {} as requested.", "ssn: {}", "social security number {} on file"],
        "credit_card": ["I was charged twice on card {} yesterday.", "card number {} expired"],
        "iban": ["Please refund to IBAN {} asap.", "Bank account {} is closed"],
        "ip_address": ["Login from {} was blocked.", "Seen at IP {} earlier"],
        "geolocation": ["Driver last seen at {} near the depot.", "pin: {}"],
        "person": ["Customer {} called about the delay.", "Dear {}, thanks for writing.", "Regards, {}"],
        "street_address": ["Please ship to {} instead.", "I moved to {} last month."],
        "date_of_birth": ["I was born on {} in Ohio.", "DOB {} per the form."],
    }
    DECOY_TEMPLATES = ["Order {} is delayed.", "Ref {} noted.", "Version {} fixed it.", "Paid {} today.", "Event at {}."]

    def sentence(self, path: str, doc: Doc, entities: tuple[str, ...]) -> str:
        r = self.rng
        parts: list[str] = []
        pos = 0
        for _ in range(r.randint(1, 3)):
            if r.random() < 0.75:
                e = r.choice(entities)
                v = self.value(e)
                text = _geo_text(v) if e == "geolocation" else str(v)
                tpl = r.choice(self.TEMPLATES[e])
                pre, post = tpl.split("{}")
                start = pos + len(pre)
                doc.truth.append((path, e, (start, start + len(text)), "text"))
                s = pre + text + post
            else:
                kind, v = self.decoy()
                tpl = r.choice(self.DECOY_TEMPLATES)
                pre, post = tpl.split("{}")
                start = pos + len(pre)
                doc.decoys.append((path, (start, start + len(str(v))), kind))
                s = pre + str(v) + post
            parts.append(s)
            pos += len(s) + 1
        filler = self.fake.sentence(nb_words=8)
        parts.append(filler)
        return " ".join(parts)

    # -------------------------------------------------------------- documents
    def profile(self, doc: Doc, base: str) -> dict[str, Any]:
        body: dict[str, Any] = {"id": str(self.fake.uuid4()), "created_at": self.fake.iso8601() + "Z"}
        for key, e in [("name", "person"), ("email", "email"), ("phone", "phone"), ("ssn", "us_ssn"),
                       ("dob", "date_of_birth"), ("address", "street_address"), ("passport_no", "us_passport"),
                       ("driver_license", "us_driver_license"), ("last_login_ip", "ip_address")]:  # fmt: skip
            if self.rng.random() < 0.75:
                body[key] = self.value(e)
                doc.truth.append((f"{base}.{key}", e, None, "telling"))
        if self.rng.random() < 0.5:
            lat, lng = self.value("geolocation")
            body["location"] = {"lat": lat, "lng": lng}
            doc.truth.append((f"{base}.location", "geolocation", None, "telling"))
        body["plan"] = self.rng.choice(["free", "pro", "enterprise"])
        return body

    def order(self, doc: Doc, base: str) -> dict[str, Any]:
        r = self.rng
        body: dict[str, Any] = {"order_number": f"ORD-{r.randrange(2019, 2026)}-{r.randrange(10**6):06d}"}
        doc.decoys.append((f"{base}.order_number", None, "order"))
        body["customer"] = {"name": self.value("person"), "email": self.value("email")}
        doc.truth.append((f"{base}.customer.name", "person", None, "telling"))
        doc.truth.append((f"{base}.customer.email", "email", None, "telling"))
        items = []
        for _ in range(r.randint(1, 4)):
            items.append({"sku": f"SKU-{r.randrange(10**5)}", "name": self.fake.catch_phrase(),
                          "price": round(r.uniform(1, 500), 2), "qty": r.randint(1, 5)})  # fmt: skip
        body["items"] = items
        body["shipping_address"] = {"line1": self.value("street_address"), "city": self.fake.city(),
                                    "zip": self.fake.postcode()}  # fmt: skip
        doc.truth.append((f"{base}.shipping_address.line1", "street_address", None, "telling"))
        body["placed_at"] = self.fake.iso8601() + "Z"
        return body

    def payment(self, doc: Doc, base: str) -> dict[str, Any]:
        body: dict[str, Any] = {"id": str(self.fake.uuid4()), "amount": round(self.rng.uniform(1, 900), 2)}
        for key, e in [("card_number", "credit_card"), ("iban", "iban"), ("routing_number", "aba_routing")]:
            if self.rng.random() < 0.8:
                body[key] = self.value(e)
                doc.truth.append((f"{base}.{key}", e, None, "telling"))
        body["currency"] = "USD"
        return body

    def ticket(self, doc: Doc, base: str) -> dict[str, Any]:
        body: dict[str, Any] = {"ticket_id": f"T-{self.rng.randrange(10**6)}", "subject": self.fake.sentence(nb_words=5)}
        body["body"] = self.sentence(f"{base}.body", doc, tuple(self.TEMPLATES))
        body["created_at"] = self.fake.iso8601() + "Z"
        return body

    def pings(self, doc: Doc, base: str) -> dict[str, Any]:
        pings = []
        for i in range(self.rng.randint(1, 4)):
            lat, lng = self.value("geolocation")
            if self.rng.random() < 0.5:
                pings.append({"ts": self.fake.iso8601() + "Z", "lat": lat, "lng": lng})
                doc.truth.append((f"{base}.pings[{i}]", "geolocation", None, "telling"))
            else:
                pings.append({"ts": self.fake.iso8601() + "Z", "coords": [lat, lng]})
                doc.truth.append((f"{base}.pings[{i}].coords", "geolocation", None, "telling"))
        return {"device_id": str(self.fake.uuid4()), "pings": pings}

    def attributes(self, doc: Doc, base: str) -> dict[str, Any]:
        r = self.rng
        attrs = []
        for i in range(r.randint(2, 5)):
            key = r.choice(NEUTRAL_KEYS)
            path = f"{base}.attributes[{i}].{key}"
            if r.random() < 0.6:
                e = r.choice(TEXT_ENTITIES)
                v = self.value(e)
                if e == "geolocation":
                    v = _geo_text(v) if r.random() < 0.5 else list(v)
                attrs.append({key: v})
                doc.truth.append((path, e, None, "neutral"))
            else:
                kind, v = self.decoy()
                attrs.append({key: v})
                doc.decoys.append((path, None, kind))
        return {"attributes": attrs}

    def document(self) -> Doc:
        doc = Doc(body=None)
        kind = self.rng.choice(["profile", "order", "payment", "ticket", "pings", "attributes", "list"])
        if kind == "list":
            items = []
            for i in range(self.rng.randint(2, 4)):
                maker = self.rng.choice([self.profile, self.payment, self.attributes])
                items.append(maker(doc, f"$.data[{i}]"))
            doc.body = {"data": items, "page": 1, "version": "2.4.1"}
        else:
            doc.body = getattr(self, kind)(doc, "$")
        # fix paths: bodies built with base "$" already carry the right paths
        return doc


def _geo_text(v: tuple[float, float]) -> str:
    return f"{v[0]}, {v[1]}"


def _luhn(n: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(n)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def generate(seed: int, n: int) -> list[Doc]:
    """``n`` documents from ``seed`` (deterministic)."""
    g = _Gen(seed)
    return [g.document() for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=TUNE_SEED)
    ap.add_argument("--n", type=int, default=3)
    a = ap.parse_args()
    for d in generate(a.seed, a.n):
        print(d.json().decode())


if __name__ == "__main__":
    main()
