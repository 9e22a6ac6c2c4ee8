"""Gatewise's lab: the demo (``gatewise_lab.demo``) and the gateway bench (``gatewise_lab.bench``).

A distribution of its own so that the serving wheel holds no demo data, training code or
bench. ``gatewise demo`` and ``gatewise bench`` are its commands, registered through the
``gatewise.commands`` entry points (``gatewise_lab.cli``).
"""
