"""The demo API's records: deterministic fake personal data (Faker, fixed seed).

About 1,000 records: customers (names, e-mails, phones, SSNs, dates of birth, street
addresses, card numbers, precise locations — all fake), their orders, and support
tickets whose free text mentions personal data the way real tickets do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from faker import Faker

__all__ = ["DemoData", "generate"]

SEED = 20261128


def _luhn_card(fake: Faker) -> str:
    # Faker's credit_card_number is Luhn-valid; keep the common 16-digit Visa shape.
    return str(fake.credit_card_number(card_type="visa16"))


@dataclass
class DemoData:
    customers: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    tickets: list[dict[str, Any]]

    @property
    def record_count(self) -> int:
        return len(self.customers) + len(self.orders) + len(self.tickets)


def generate(n_customers: int = 500, n_orders: int = 350, n_tickets: int = 150, seed: int = SEED) -> DemoData:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    customers = []
    for i in range(1, n_customers + 1):
        first, last = fake.first_name(), fake.last_name()
        customers.append(
            {
                "id": i,
                "tenant_id": f"t{1 + (i % 3)}",
                "name": f"{first} {last}",
                "email": f"{first}.{last}{i}@example.com".lower(),
                "phone": fake.numerify("(###) ###-####").replace("(0", "(4").replace("(1", "(5"),
                "ssn": fake.ssn(),
                "date_of_birth": fake.date_between(date(1936, 1, 1), date(2007, 12, 31)).isoformat(),
                "address": {
                    "street": fake.street_address(),
                    "city": fake.city(),
                    "state": "CA",
                    "zip": fake.zipcode_in_state("CA"),
                },
                "card_number": _luhn_card(fake),
                "location": {
                    "lat": round(float(fake.latitude()) % 8 + 32.5, 6),
                    "lng": round(-(float(fake.longitude()) % 10 + 114.2), 6),
                },
                "marketing_opt_in": fake.boolean(),
                "created_at": fake.date_time_between(datetime(2023, 1, 1), datetime(2026, 1, 1)).isoformat() + "Z",
                # Internal fields the API should never have exposed (excessive data exposure).
                "password_hash": "$2b$12$" + fake.sha256()[:53],
                "internal_risk_score": fake.random_int(0, 100),
            }
        )
    orders: list[dict[str, Any]] = []
    for i in range(1, n_orders + 1):
        c = customers[fake.random_int(0, n_customers - 1)]
        items: list[dict[str, Any]] = [
            {"sku": fake.bothify("SKU-####-??").upper(), "qty": fake.random_int(1, 4), "price": round(fake.pyfloat(2, 2, True), 2)}
            for _ in range(fake.random_int(1, 3))
        ]
        orders.append(
            {
                "id": 10_000 + i,
                "customer_id": c["id"],
                "tenant_id": c["tenant_id"],
                "status": fake.random_element(["placed", "shipped", "delivered", "returned"]),
                "items": items,
                "total": round(sum(x["qty"] * x["price"] for x in items), 2),
                "shipping_address": c["address"],
                "placed_at": fake.date_time_between(datetime(2025, 6, 1), datetime(2026, 6, 1)).isoformat() + "Z",
            }
        )
    tickets: list[dict[str, Any]] = []
    for i in range(1, n_tickets + 1):
        c = customers[fake.random_int(0, n_customers - 1)]
        addr = cast(dict[str, str], c["address"])
        text = fake.random_element(
            [
                f"Hi, I can't log in. My email is {c['email']} and my phone is {c['phone']}.",
                f"Please update my card, the old one {c['card_number']} expired. Thanks, {c['name']}",
                f"I moved to {addr['street']}, {addr['city']}. Please update my account.",
                f"Why do you need my SSN {c['ssn']}? I want my data deleted under the CCPA.",
                "Where is my order? It has been two weeks.",
            ]
        )
        tickets.append(
            {
                "id": 50_000 + i,
                "customer_id": c["id"],
                "subject": fake.sentence(nb_words=5),
                "body": text,
                "status": fake.random_element(["open", "pending", "closed"]),
                "created_at": fake.date_time_between(datetime(2026, 1, 1), datetime(2026, 6, 1)).isoformat() + "Z",
            }
        )
    return DemoData(customers, orders, tickets)
