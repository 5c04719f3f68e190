"""`longctx`: questions about order logs far longer than a small model's context window.

Each problem's document is a log of thousands of generated orders, one per line:

    order 00412: customer=Mara Quinn; city=Lisbon; product=lamp; qty=3; price=41; status=paid

The document is never stored: `metadata["context"]` holds the generator's seed and record
count, and `document(problem)` rebuilds it exactly. The question itself stays short (the
stored set is a few kilobytes). Each question needs the whole log: a count, a sum, a maximum,
or several needles looked up by order number. Answers are integers, checked exactly.

Two tiers: the hard one (set `longctx`, 1,800 to 2,600 orders, 20 problems) asks for
combinations (two fields at once, sums, three needles); the easy one (set `longctx-easy`,
600 to 900 orders, about three times the default 8,192-token context) asks one thing: a
count over a single field or the price or qty of one order, so a learner sees the recursive
strategy work before the hard tier. `metadata["tier"]` is "easy" for the easy tier only.

`recursive` reads the document as its REPL context (`attached_context`); `with_document`
gives the whole log inline to strategies that read everything at once, to show that it does
not fit.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from lab.tasks.problem import AnswerKind, Problem

GENERATOR = "longctx-orders-v1"
QUESTION_TYPES = ("count", "sum", "needles", "max", "customer")
CITIES = ("Lisbon", "Oslo", "Kyoto", "Lima", "Accra", "Perth", "Quebec", "Tbilisi", "Hanoi",
          "Dakar", "Bergen", "Cusco")
PRODUCTS = ("lamp", "kettle", "chair", "drill", "mirror", "bicycle", "teapot", "ladder",
            "blanket", "clock", "radio", "shovel")
STATUSES = ("paid", "shipped", "returned", "cancelled")
FIRST = ("Mara", "Ivo", "Lena", "Tomas", "Aiko", "Ravi", "Nadia", "Oscar", "Priya", "Jonas",
         "Selma", "Kofi", "Elena", "Yusuf", "Ines", "Bruno")
LAST = ("Quinn", "Okafor", "Lind", "Moreau", "Sato", "Varga", "Haddad", "Novak", "Reyes",
        "Brandt", "Costa", "Ilves", "Mensah", "Kowal", "Duarte", "Berg")
_NUMBER = re.compile(r"-?\d[\d,_]*(?:\.\d+)?")


@dataclass(frozen=True)
class Order:
    number: int
    customer: str
    city: str
    product: str
    qty: int
    price: int
    status: str

    def line(self) -> str:
        return (f"order {self.number:05d}: customer={self.customer}; city={self.city}; "
                f"product={self.product}; qty={self.qty}; price={self.price}; "
                f"status={self.status}")


def generate(count: int, seed: int, records: tuple[int, int] = (1800, 2600)) -> list[Problem]:
    """`count` problems cycling through the question types; each log has between
    records[0] and records[1] orders."""
    problems = []
    for index in range(count):
        rng = random.Random(f"longctx:{seed}:{index}")
        size = rng.randint(*records)
        problems.append(make_problem(index + 1, QUESTION_TYPES[index % len(QUESTION_TYPES)],
                                     rng.randrange(1 << 30), size))
    return problems


def generate_easy(count: int, seed: int, records: tuple[int, int] = (600, 900)) -> list[Problem]:
    """`count` easy-tier problems (one count or one lookup each) cycling through
    EASY_QUESTION_TYPES; each log has between records[0] and records[1] orders."""
    problems = []
    for index in range(count):
        rng = random.Random(f"longctx-easy:{seed}:{index}")
        size = rng.randint(*records)
        qtype = EASY_QUESTION_TYPES[index % len(EASY_QUESTION_TYPES)]
        problems.append(make_problem(index + 1, qtype, rng.randrange(1 << 30), size,
                                     tier="easy"))
    return problems


def make_problem(index: int, qtype: str, log_seed: int, size: int,
                 tier: str = "hard") -> Problem:
    orders = make_orders(log_seed, size)
    query, answer = QUESTIONS[qtype](random.Random(f"longctx-question:{log_seed}"), orders)
    chars = len(render(orders))
    metadata = {"context": {"generator": GENERATOR, "seed": log_seed, "records": size},
                "query": query, "qtype": qtype, "context_chars": chars}
    name = "longctx" if tier == "hard" else f"longctx-{tier}"
    if tier != "hard":  # the hard tier's records stay as they were first stored
        metadata["tier"] = tier
    return Problem(
        id=f"{name}-{index:03d}",
        question=f"The context is an order log of {size:,} orders ({chars:,} characters). "
                 f"{query}",
        gold=str(answer),
        kind=AnswerKind.NUMBER,
        source=name,
        difficulty=DIFFICULTY[qtype],
        metadata=metadata,
    )


def tier(problem: Problem) -> str:
    """"easy" or "hard": which tier of longctx a problem belongs to."""
    return str(problem.metadata.get("tier", "hard"))


# -- the document ---------------------------------------------------------------------------
def make_orders(seed: int, size: int) -> list[Order]:
    rng = random.Random(f"longctx-orders:{seed}")
    customers = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(max(20, size // 8))]
    numbers = rng.sample(range(1, 100_000), size)
    return [Order(number, rng.choice(customers), rng.choice(CITIES), rng.choice(PRODUCTS),
                  rng.randint(1, 9), rng.randint(5, 500), rng.choice(STATUSES))
            for number in numbers]


def render(orders: list[Order]) -> str:
    return "\n".join(order.line() for order in orders) + "\n"


def document(problem: Problem) -> str:
    """The problem's order log, rebuilt from its metadata (ValueError if it has none)."""
    spec = problem.metadata.get("context")
    if not isinstance(spec, dict) or spec.get("generator") != GENERATOR:
        raise ValueError(f"problem {problem.id} has no generated longctx document")
    return render(make_orders(int(spec["seed"]), int(spec["records"])))


def attached_context(problem: Problem) -> str | None:
    """The long document a problem refers to, or None for an ordinary problem."""
    try:
        return document(problem)
    except (ValueError, KeyError, TypeError):
        return None


def with_document(problem: Problem) -> Problem:
    """The problem with its whole document inline, for strategies that read everything."""
    return replace(problem, question=f"{document(problem)}\n{problem.question}")


# -- questions: (rng, orders) -> (question, answer) -----------------------------------------
def _count(rng: random.Random, orders: list[Order]) -> tuple[str, int]:
    city, status = rng.choice(CITIES), rng.choice(STATUSES)
    answer = sum(1 for o in orders if o.city == city and o.status == status)
    return f"How many orders have city={city} and status={status}?", answer


def _sum(rng: random.Random, orders: list[Order]) -> tuple[str, int]:
    product = rng.choice(PRODUCTS)
    answer = sum(o.qty for o in orders if o.product == product)
    return f"What is the total qty over all orders with product={product}?", answer


def _needles(rng: random.Random, orders: list[Order]) -> tuple[str, int]:
    picked = sorted(rng.sample(orders, 3), key=lambda o: o.number)
    names = [f"{o.number:05d}" for o in picked]
    question = (f"What is the sum of the prices of orders {names[0]}, {names[1]} and "
                f"{names[2]}?")
    return question, sum(o.price for o in picked)


def _max(rng: random.Random, orders: list[Order]) -> tuple[str, int]:
    some = rng.choice(orders)  # a pair that exists, with few enough orders that max is not 500
    answer = max(o.price for o in orders if o.city == some.city and o.product == some.product)
    return (f"What is the highest price of any order with city={some.city} and "
            f"product={some.product}?", answer)


def _customer(rng: random.Random, orders: list[Order]) -> tuple[str, int]:
    customer = rng.choice(orders).customer
    answer = sum(1 for o in orders if o.customer == customer)
    return f"How many orders did customer={customer} place?", answer


# the easy tier: one field to count, or one order to look up
def _count_city(rng: random.Random, orders: list[Order]) -> tuple[str, int]:
    city = rng.choice(CITIES)
    return f"How many orders have city={city}?", sum(1 for o in orders if o.city == city)


def _count_product(rng: random.Random, orders: list[Order]) -> tuple[str, int]:
    product = rng.choice(PRODUCTS)
    answer = sum(1 for o in orders if o.product == product)
    return f"How many orders have product={product}?", answer


def _count_status(rng: random.Random, orders: list[Order]) -> tuple[str, int]:
    status = rng.choice(STATUSES)
    answer = sum(1 for o in orders if o.status == status)
    return f"How many orders have status={status}?", answer


def _lookup_price(rng: random.Random, orders: list[Order]) -> tuple[str, int]:
    order = rng.choice(orders)
    return f"What is the price of order {order.number:05d}?", order.price


def _lookup_qty(rng: random.Random, orders: list[Order]) -> tuple[str, int]:
    order = rng.choice(orders)
    return f"What is the qty of order {order.number:05d}?", order.qty


QUESTIONS: dict[str, Callable[[random.Random, list[Order]], tuple[str, int]]] = {
    "count": _count, "sum": _sum, "needles": _needles, "max": _max, "customer": _customer,
    "count-city": _count_city, "lookup-price": _lookup_price,
    "count-product": _count_product, "lookup-qty": _lookup_qty, "count-status": _count_status,
}
EASY_QUESTION_TYPES = ("count-city", "lookup-price", "count-product", "lookup-qty",
                       "count-status")
DIFFICULTY = {"count": 0.6, "sum": 0.6, "needles": 0.4, "max": 0.5, "customer": 0.7,
              "count-city": 0.3, "lookup-price": 0.2, "count-product": 0.3,
              "lookup-qty": 0.2, "count-status": 0.3}  # higher is harder


# -- checking -------------------------------------------------------------------------------
def parse_integer(answer: str | None) -> int | None:
    """The last number in an answer ("1,234", "The answer is 42.", "42.0") as an integer;
    None when there is none or it has a fractional part."""
    matches = _NUMBER.findall(answer or "")
    if not matches:
        return None
    whole, _, fraction = matches[-1].replace(",", "").replace("_", "").partition(".")
    if fraction.strip("0"):
        return None
    try:
        return int(whole)
    except ValueError:
        return None


def check(problem: Problem, answer: str | None) -> bool:
    """Exactly the gold integer?"""
    value = parse_integer(answer)
    return value is not None and problem.gold is not None and value == int(problem.gold)
