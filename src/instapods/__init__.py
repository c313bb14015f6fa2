"""instapods: run web apps in isolated pods, speaking the InstaPods REST API."""

__version__ = "0.1.0"
