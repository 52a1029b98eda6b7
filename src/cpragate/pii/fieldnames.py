"""Field-name signals: what a JSON key, form field or query parameter says its value is.

Keys are normalized to lower snake case (``customerSSN``, ``customer-ssn`` and
``Customer_SSN`` all become ``customer_ssn``), then matched whole, by their last two
tokens and by their last token, with a trailing plural ``s`` removed. So ``billing_phone``,
``contactEmailAddress`` and ``emails`` are telling, while ``phone_verified`` and
``email_count`` are not (their last token is not a PII noun).

A plain ``name`` is ambiguous (products and companies have names too); it is a person's
name only when its object also holds another personal field (e-mail, phone, address,
date of birth...) or sits under a person-like key (``customer``, ``user``, ``contact``...).
The engine resolves that with :data:`PERSON_CONTAINERS` and :func:`is_personal_sibling`.
"""

from __future__ import annotations

import re

from cpragate.pii.categories import Entity

__all__ = [
    "AMBIGUOUS_NAME",
    "GEO_LAT",
    "GEO_LNG",
    "GEO_PAIR",
    "PERSON_CONTAINERS",
    "KeySignals",
    "classify_key",
    "is_person_container",
    "normalize_key",
]

# Markers for the geolocation pair: the engine matches a lat key with a lng key in one object.
GEO_LAT = "geo:lat"
GEO_LNG = "geo:lng"
GEO_PAIR = "geo:pair"
AMBIGUOUS_NAME = "person:ambiguous"

_CAMEL1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL2 = re.compile(r"([a-z0-9])([A-Z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

# Whole normalized keys or token suffixes -> entity. Abbreviations are the ones seen in
# public API specs (Stripe, Plaid, Twilio, FHIR exports, Salesforce field names).
_NAMES: dict[str, str] = {}


def _add(entity: str, *keys: str) -> None:
    for k in keys:
        _NAMES[k] = entity


_add(Entity.EMAIL, "email", "e_mail", "email_address", "mail", "email_addr", "emailaddress")
_add(
    Entity.PHONE, "phone", "phone_number", "phone_no", "phonenumber", "tel", "telephone",
    "mobile", "mobile_number", "cell", "cell_phone", "cellphone", "fax", "msisdn",
    "phone_num", "contact_number",
)  # fmt: skip
_add(
    Entity.US_SSN, "ssn", "social_security_number", "social_security", "social_security_no",
    "socialsecuritynumber", "ssn_number", "us_ssn", "tax_id_ssn",
)  # fmt: skip
_add(
    Entity.CREDIT_CARD, "card_number", "cc_number", "credit_card", "credit_card_number",
    "creditcard", "creditcardnumber", "pan", "card_no", "ccn", "cc_num", "card_num",
    "debit_card", "debit_card_number", "cardnumber", "primary_account_number",
)  # fmt: skip
_add(Entity.IBAN, "iban", "iban_number", "iban_code", "intl_bank_account_number")
_add(
    Entity.ABA_ROUTING, "routing_number", "aba", "aba_routing", "aba_number", "routing",
    "rtn", "routing_no", "aba_routing_number", "bank_routing_number",
)  # fmt: skip
_add(
    Entity.IP_ADDRESS, "ip", "ip_address", "ipaddress", "ipv4", "ipv6", "ip_addr",
    "remote_addr", "remote_ip", "client_ip", "source_ip", "src_ip", "x_forwarded_for",
    "last_login_ip", "ip_v4", "ip_v6",
)  # fmt: skip
_add(
    Entity.DATE_OF_BIRTH, "dob", "date_of_birth", "birth_date", "birthdate", "birthday",
    "birth_day", "born", "born_on", "d_o_b",
)  # fmt: skip
_add(
    Entity.US_DRIVER_LICENSE, "driver_license", "drivers_license", "driver_licence",
    "drivers_licence", "driver_license_number", "drivers_license_number", "dl_number",
    "dl_no", "dln", "license_number", "licence_number", "driving_license", "dl",
    "driver_license_no",
)  # fmt: skip
_add(
    Entity.US_PASSPORT, "passport", "passport_no", "passport_number", "passport_num",
    "passportnumber", "passport_id",
)  # fmt: skip
_add(
    Entity.PERSON, "full_name", "first_name", "last_name", "given_name", "family_name",
    "surname", "middle_name", "firstname", "lastname", "fullname", "forename",
    "customer_name", "contact_name", "cardholder_name", "card_holder_name", "holder_name",
    "account_holder_name", "patient_name", "employee_name", "legal_name", "maiden_name",
    "preferred_name", "recipient_name", "sender_name", "billing_name", "shipping_name",
    "owner_name", "name_on_card", "person_name", "author_name", "guardian_name",
    "emergency_contact_name", "beneficiary_name", "payee_name", "payer_name",
)  # fmt: skip
_add(
    Entity.STREET_ADDRESS, "address", "street", "street_address", "address_line1",
    "address_line_1", "address1", "addr", "addr1", "line1", "address_1", "home_address",
    "mailing_address", "postal_address", "residential_address", "street_line",
    "street_line1", "billing_address", "shipping_address", "street_1", "streetaddress",
    "delivery_address", "customer_address", "user_address", "contact_address",
    "permanent_address", "current_address", "physical_address",
)  # fmt: skip
for _k in ("lat", "latitude", "geo_lat", "lat_deg"):
    _NAMES[_k] = GEO_LAT
for _k in ("lng", "lon", "long", "longitude", "geo_lng", "geo_lon", "lon_deg"):
    _NAMES[_k] = GEO_LNG
for _k in ("latlng", "lat_lng", "latlon", "lat_lon", "coordinates", "coords", "geo",
           "geolocation", "location_coordinates", "gps", "position", "geo_point", "geopoint"):  # fmt: skip
    _NAMES[_k] = GEO_PAIR
_NAMES["name"] = AMBIGUOUS_NAME

# Keys that name a person record: a plain ``name`` inside them is a person's name.
PERSON_CONTAINERS: frozenset[str] = frozenset(
    {
        "customer", "user", "contact", "profile", "author", "owner", "recipient", "sender",
        "employee", "patient", "member", "account_holder", "cardholder", "requester",
        "assignee", "reporter", "person", "people", "customers", "users", "contacts",
        "members", "employees", "patients", "billing", "shipping", "shipping_address",
        "billing_address", "buyer", "seller", "payer", "payee", "beneficiary", "guardian",
        "emergency_contact", "traveler", "passenger", "guest", "applicant", "subscriber",
        "client", "consumer", "driver", "rider", "student", "teacher", "doctor",
    }
)  # fmt: skip

# Tokens whose presence after the PII noun means the value is *about* the field, not it:
# ``email_verified``, ``phone_count``, ``ssn_last4`` (a partial SSN is not matched as one).
_QUALIFIERS = frozenset(
    {"verified", "count", "type", "status", "enabled", "opt", "optin", "consent", "hash",
     "last4", "last_4", "mask", "masked", "format", "id_type", "confirmed", "visible",
     "provider", "domain", "country", "code", "prefix", "valid", "updated", "at", "on"}
)  # fmt: skip


def normalize_key(key: str) -> str:
    """Lower snake case: ``customerSSN`` -> ``customer_ssn``, ``Phone-No`` -> ``phone_no``."""
    k = _CAMEL2.sub(r"\1_\2", _CAMEL1.sub(r"\1_\2", key))
    return _NON_ALNUM.sub("_", k.lower()).strip("_")


def _singular(token: str) -> str:
    if token.endswith("sses") or token.endswith("ses"):
        return token[:-2]
    if token.endswith("s") and not token.endswith("ss") and len(token) > 3:
        return token[:-1]
    return token


def classify_key(key: str, extra: dict[str, str] | None = None) -> str | None:
    """The entity (or geo/ambiguous marker) a field name signals, or None.

    :param key: the raw key as it appears in the document.
    :param extra: operator-configured field names (normalized) -> entity; they win.
    """
    norm = normalize_key(key)
    if not norm:
        return None
    if extra:
        hit = extra.get(norm)
        if hit is not None:
            return hit
    hit = _NAMES.get(norm)
    if hit is not None:
        return hit
    tokens = norm.split("_")
    if tokens[-1] in _QUALIFIERS:
        return None
    candidates = []
    if len(tokens) >= 2:
        candidates.append("_".join(tokens[-2:]))
    candidates.append(tokens[-1])
    candidates.append(_singular(tokens[-1]))
    if len(tokens) >= 2:
        candidates.append("_".join([*tokens[-2:-1], _singular(tokens[-1])]))
    candidates.append("".join(tokens))
    for c in candidates:
        hit = _NAMES.get(c)
        if hit is not None and hit != AMBIGUOUS_NAME:
            if extra and c in extra:
                return extra[c]
            # Short tokens are only telling as the whole key or the last token, and
            # "long"/"mail"/"cell"/"tel"/"dl"/"pan" in a compound mean other things
            # (``long_description``, ``voicemail``, ``excel_cell``).
            if c in _WEAK_SUFFIXES and c != norm:
                continue
            return hit
    return None


# Tokens that are telling only as the whole key.
_WEAK_SUFFIXES = frozenset(
    {"long", "mail", "cell", "tel", "dl", "pan", "aba", "routing", "geo", "position", "born",
     "fax", "rtn", "gps", "line1", "street", "mobile", "address"}
)  # fmt: skip


class KeySignals:
    """A bounded cache from raw keys to signals, owned by one engine.

    Keys in real traffic repeat (the same API schema over and over), so classification
    runs once per distinct key; beyond ``max_size`` distinct keys the cache is cleared,
    which bounds memory against hostile documents with random keys.
    """

    __slots__ = ("_cache", "_extra", "max_size")

    def __init__(self, extra: dict[str, str] | None = None, max_size: int = 20_000) -> None:
        self._cache: dict[str, str | None] = {}
        self._extra = {normalize_key(k): v for k, v in (extra or {}).items()}
        self.max_size = max_size

    def get(self, key: str) -> str | None:
        """The signal of ``key`` (see :func:`classify_key`), cached."""
        try:
            return self._cache[key]
        except KeyError:
            pass
        sig = classify_key(key, self._extra)
        if len(self._cache) >= self.max_size:
            self._cache.clear()
        self._cache[key] = sig
        return sig


def is_person_container(key: str | None) -> bool:
    """True if an object under ``key`` is a person record (see module docstring)."""
    if key is None:
        return False
    norm = normalize_key(key)
    if norm in PERSON_CONTAINERS:
        return True
    tokens = norm.split("_")
    return tokens[-1] in PERSON_CONTAINERS or _singular(tokens[-1]) in PERSON_CONTAINERS
