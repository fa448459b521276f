"""Name lists for streets and (fictitious) crew members.

All names are invented combinations; any resemblance to a real person is accidental.
"""
from __future__ import annotations

STREET_STEMS = (
    "Oak", "Maple", "Cedar", "Elm", "Pine", "Birch", "Willow", "Ash", "Walnut", "Cherry",
    "Magnolia", "Juniper", "Laurel", "Poplar", "Sycamore", "Hickory", "Chestnut", "Aspen",
    "Cypress", "Hawthorn", "Linden", "Alder", "Holly", "Spruce", "Redbud", "Mesquite",
    "Pecan", "Live Oak", "Bluebonnet", "Primrose", "Sunflower", "Lakeview", "Hillcrest",
    "Ridgeway", "Fairview", "Brookside", "Meadow", "Prairie", "Canyon", "Riverside",
    "Harbor", "Summit", "Valley", "Highland", "Parkside", "Greenway", "Westfield",
    "Eastgate", "Northwood", "Southridge", "Kingsley", "Franklin", "Jefferson", "Lincoln",
    "Madison", "Monroe", "Jackson", "Harrison", "Grant", "Garfield", "Cleveland", "Mercer",
    "Lamar", "Houston", "Austin", "Travis", "Crockett", "Bowie", "Fannin", "Navarro",
)
RESIDENTIAL_SUFFIX_X = ("Street", "Lane", "Drive", "Place")
RESIDENTIAL_SUFFIX_Y = ("Avenue", "Court", "Way", "Terrace")
ARTERIAL_SUFFIX = ("Boulevard", "Parkway", "Road", "Expressway")

FIRST_NAMES = (
    "Alex", "Maria", "James", "Lucia", "Robert", "Ana", "Michael", "Sofia", "David", "Elena",
    "Daniel", "Rosa", "Joseph", "Carmen", "Thomas", "Grace", "Marcus", "Aisha", "Kevin", "Mei",
    "Luis", "Fatima", "Andre", "Hannah", "Tyrone", "Priya", "Carlos", "Olivia", "Samuel", "Yuki",
    "Victor", "Nadia", "Jamal", "Irene", "Oscar", "Leah", "Hector", "Tanya", "Ricardo", "Beatriz",
)
LAST_NAMES = (
    "Alvarez", "Brooks", "Castillo", "Dawson", "Ellison", "Flores", "Garrett", "Hayes", "Ibarra",
    "Jensen", "Kowalski", "Lindqvist", "Moreno", "Nguyen", "Okafor", "Petrov", "Quintero",
    "Ramsey", "Salazar", "Thornton", "Underwood", "Vasquez", "Whitaker", "Xiong", "Yamada",
    "Zamora", "Abbott", "Bishop", "Carver", "Delgado", "Espinoza", "Fitzgerald", "Guerrero",
    "Holloway", "Ingram", "Juarez", "Kessler", "Lombardi", "Mbeki", "Navarrete",
)
