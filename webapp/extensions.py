"""Extensions created unbound; ``create_app`` binds them with ``init_app``."""
from flask_htmx import HTMX
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
htmx = HTMX()
login_manager = LoginManager()  # its user loader and sign-in redirect are in webapp/blueprints/auth.py
