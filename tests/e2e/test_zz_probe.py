from .lab import Lab


def test_probe(lab: Lab, workdir) -> None:
    path = lab.server.copy_notebook("03_suspend_resume_and_approvals.ipynb", workdir)
    lab.open(path)
    lab.run_cells(range(5))
    out = lab.output(4)
    out.locator(".polos-live").wait_for()
    js = """() => { const n = window.jupyterapp.shell.currentWidget.content.widgets[4].node.querySelector('.polos-live');
      const chain = []; let e = n; while (e && chain.length < 6) { chain.push(e.className); e = e.parentElement; } return chain; }"""
    print(lab.page.evaluate(js))
    lab.page.on("console", lambda m: print("CONSOLE", m.type, m.text[:200]))
    lab.restart_kernel()
    lab.page.wait_for_timeout(3000)
    print(lab.page.evaluate(js))
    print(
        lab.page.evaluate(
            "() => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel; return [k.id, k.status]; }"
        )
    )
