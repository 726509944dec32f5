"""Packaging for llava_nb. Reads settings.ini (nbdev's single source of metadata); no pkg_resources."""

import ast
from configparser import ConfigParser
from pathlib import Path

import setuptools
from setuptools.command.build_py import build_py

here = Path(__file__).parent
cfg = ConfigParser(delimiters=["="])
cfg.read(here / "settings.ini", encoding="utf-8")
cfg = cfg["DEFAULT"]

licenses = {"apache2": ("Apache Software License 2.0", "OSI Approved :: Apache Software License")}
lic = licenses[cfg["license"]]
statuses = [
    "1 - Planning",
    "2 - Pre-Alpha",
    "3 - Alpha",
    "4 - Beta",
    "5 - Production/Stable",
    "6 - Mature",
    "7 - Inactive",
]
py_versions = ["3.10", "3.11", "3.12", "3.13"]
min_python = cfg["min_python"]

requirements = cfg.get("requirements", "").split()
notebook_requirements = cfg.get("notebook_requirements", "").split()  # the widgets, JupyterLab and Voila
dev_requirements = cfg.get("dev_requirements", "").split()
readme = here / "README.md"


def shipped_folders() -> dict:
    "`llava_nb.core.SHIPPED` (name -> folder in the repository), read without importing llava_nb (it needs torch)."
    tree = ast.parse((here / "llava_nb" / "core.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SHIPPED" for t in node.targets):
            return ast.literal_eval(node.value)
    raise RuntimeError("llava_nb/core.py defines no SHIPPED")


class build_py_with_shipped(build_py):
    """Also copy the shipped folders (`data/nano`, `configs`) into the built package as `llava_nb/shipped/<name>`, where
    `llava_nb.core.shipped_path` finds them in an installed wheel. An editable install reads them from the clone."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name, folder in shipped_folders().items():
            src = here / folder
            if not src.is_dir():
                raise FileNotFoundError(f"{src} is missing: a wheel without it would not run `llava-nb quickstart`")
            self.copy_tree(str(src), str(Path(self.build_lib) / "llava_nb" / "shipped" / name))


setuptools.setup(
    name=cfg["lib_name"].replace("_", "-"),
    version=cfg["version"],
    description=cfg["description"],
    long_description=readme.read_text(encoding="utf-8") if readme.exists() else cfg["description"],
    long_description_content_type="text/markdown",
    author=cfg["author"],
    author_email=cfg["author_email"],
    license=lic[0],
    url=cfg["git_url"],
    keywords=cfg["keywords"].split(),
    classifiers=[
        "Development Status :: " + statuses[int(cfg["status"])],
        "Intended Audience :: " + cfg["audience"].title(),
        "License :: " + lic[1],
        "Natural Language :: " + cfg["language"].title(),
    ]
    + ["Programming Language :: Python :: " + v for v in py_versions[py_versions.index(min_python) :]],
    packages=setuptools.find_packages(include=["llava_nb", "llava_nb.*"]),
    include_package_data=True,
    install_requires=requirements,
    extras_require={"notebook": notebook_requirements, "dev": dev_requirements + notebook_requirements},
    python_requires=">=" + min_python,
    zip_safe=False,
    cmdclass={"build_py": build_py_with_shipped},
    entry_points={
        "console_scripts": cfg.get("console_scripts", "").split(),
        "nbdev": [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
)
