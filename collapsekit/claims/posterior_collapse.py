"""Posterior collapse in linear VAEs (THEORY.md §9, `posterior_collapse.*`)."""
from __future__ import annotations

import numpy as np

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import posterior_collapse as nm
from simulations import posterior_collapse as sm
from theory import posterior_collapse as th

ACTIVE_CUT = 1e-6      # a latent counts as active when ‖w_k‖² > ACTIVE_CUT · λ_1


def _lams(p):
    return th.spectrum(p["d"], p["lam1"], p["rho"])


def _control(**which):
    def perturb(p, f):
        s2 = th.exact(p["sigma2"])
        return {**f, **th.vae_formulas(_lams(p), p["q"], p["sigma2"], p["beta"], **{k: s2 for k in which})}
    return perturb


def _observation(norms, enc, elbo, lam1, info, converged, message):
    values = {f"w_norm_sq_{k}": float(a) for k, a in enumerate(norms, start=1)}
    values.update({f"enc_var_{k}": float(e) for k, e in enumerate(enc, start=1)})
    values["active"] = float(np.sum(norms > ACTIVE_CUT * lam1))
    values["elbo"] = float(elbo)
    return Observation(values, info, converged=converged, message=message)


@register
class LinearVAECollapse(Claim):
    id = "posterior_collapse.linear_vae"
    title = "Linear beta-VAE: latent j collapses iff lambda_j <= beta sigma^2; else ||w_j||^2 = lambda_j - beta sigma^2"
    summary = "linear β-VAE: latent j collapses iff λ_j ≤ βσ²; ‖w_j‖² = λ_j − βσ², D_jj = βσ²/λ_j; tight ELBO at β = 1"
    summary_source = "Lucas et al. 2019"
    statement = (r"\max_{W,V,D}\ \mathbb E_x\big[\mathbb E_{q(z|x)}\log p(x|z)-\beta\,\mathrm{KL}(q(z|x)\|p(z))\big]:"
                 r"\ \|w_j\|^2=(\lambda_j-\beta\sigma^2)_+,\ D_{jj}=\min(\beta\sigma^2/\lambda_j,1),"
                 r"\ \text{and for }\beta=1\text{ the optimum equals the pPCA log-likelihood}"
                 r"\quad(p(z)=N(0,I_q),\ p(x|z)=N(Wz,\sigma^2 I),\ q(z|x)=N(Vx,D),\ D\text{ diagonal},"
                 r"\ x\sim N(0,\Sigma),\ \lambda_1>\dots>\lambda_d\text{ the eigenvalues of }\Sigma)")
    source = Source("Lucas, Tucker, Grosse & Norouzi", "Don't blame the ELBO! A linear VAE perspective on "
                    "posterior collapse", 2019,
                    "linear VAE optimum and its beta-VAE form (recalled; the thresholds, decoder norms, encoder "
                    "variances and the beta = 1 tightness are re-derived here with sympy); the beta-dependence "
                    "(THEORY.md's posterior_collapse.beta) is this claim's beta parameter", arxiv="1911.02469")
    params = (Param("d", int, 6, "data dimension", minimum=1, maximum=200),
              Param("q", int, 4, "latent dimension, q <= d", minimum=1, maximum=200),
              Param("lam1", float, 4.0, "largest data-covariance eigenvalue", minimum=1e-6, maximum=1e6),
              Param("rho", float, 0.5, "eigenvalue ratio: lambda_j = lam1 * rho^(j-1)", minimum=0.05, maximum=0.95),
              Param("sigma2", float, 0.4, "decoder noise variance sigma^2 (fixed)", minimum=1e-6, maximum=1e6),
              Param("beta", float, 2.0, "KL weight beta", minimum=1e-3, maximum=1e3))
    test_K = ()                 # no K; tests/test_posterior_collapse.py moves beta, sigma2 across the threshold
    zero_scale = 1.0            # collapsed ||w||^2 = 0 is compared absolutely (data variances are O(1))
    hypotheses = ("Gaussian data, centred (decoder mean mu = data mean = 0)", "sigma^2 fixed, diagonal encoder "
                  "covariance D", "distinct eigenvalues (rho < 1), none within 3% of beta sigma^2")
    tolerances = {
        "numeric": Tolerance(1e-5, "scipy L-BFGS on the exact ELBO, stopped at gradient norm < 1e-6 with curvature "
                                   ">= ~0.1 at the defaults: parameter errors ~1e-7 (observed ~1e-7 relative)"),
        "simulation": Tolerance(1e-5, "torch L-BFGS (autograd) on the exact ELBO of a data set with covariance exactly "
                                      "Sigma, stopped at gradient norm < 1e-6: errors ~1e-7 (observed ~1e-7)")}
    negative_controls = (
        NegativeControl("collapse threshold sigma^2 (beta ignored)", _control(threshold=True)),
        NegativeControl("encoder variance D = sigma^2/lambda (beta ignored)", _control(enc=True)),
        NegativeControl("decoder norm ||w||^2 = lambda - sigma^2 (beta ignored)", _control(gap=True)),
    )

    def validate(self, p):
        if p["q"] > p["d"]:
            raise ParameterError("q", f"q={p['q']} > d={p['d']}: more latents than data dimensions")
        thr = p["beta"] * p["sigma2"]
        lams = nm.geometric_spectrum(p["d"], p["lam1"], p["rho"])[:p["q"]]
        near = np.abs(lams - thr) < 0.03 * thr
        if near.any():
            raise ParameterError("beta", f"lambda_{int(np.argmax(near)) + 1}={lams[near][0]:g} is within 3% of "
                                         f"beta*sigma2={thr:g}: the optimum is degenerate there (quartic), "
                                         f"and no optimizer converges to 1e-5 in the budget")

    def formulas(self, p):
        return th.vae_formulas(_lams(p), p["q"], p["sigma2"], p["beta"])

    def prove(self, p, formulas):
        return th.prove_vae(formulas, _lams(p), p["q"], p["sigma2"], p["beta"])

    def numeric(self, p, ctx):
        spec = nm.geometric_spectrum(p["d"], p["lam1"], p["rho"])
        r = nm.fit(spec, p["q"], p["sigma2"], p["beta"], ctx.rng("numeric"), starts=4)
        spread = float(r.values.max() - r.values.min())
        return _observation(r.w_norm_sq, r.enc_var, r.elbo, p["lam1"],
                            {"starts": r.starts, "grad_norm": r.grad_norm, "start_spread": spread,
                             "method": "scipy L-BFGS-B, full W, V, log D, rotated Sigma"},
                            r.converged, f"best of {r.starts} starts, grad norm {r.grad_norm:.1e}, "
                                         f"spread of final ELBOs {spread:.1e}")

    def simulate(self, p, ctx):
        spec = nm.geometric_spectrum(p["d"], p["lam1"], p["rho"])
        seed = ctx.seed_for("simulation")
        r = sm.train_exact(spec, p["q"], p["sigma2"], p["beta"], seed, ctx.device)
        sgd = sm.train_sgd(spec, p["q"], p["sigma2"], p["beta"], seed + 1, ctx.device)
        sgd_active = int(np.sum(sgd["w_norm_sq"] > 0.1 * p["beta"] * p["sigma2"]))
        info = {"steps": r["steps"], "grad_norm": r["grad_norm"], "device": r["device"], "samples": r["n"],
                "sgd_observed": {"steps": sgd["steps"], "batch": sgd["batch"], "active": sgd_active,
                                 "w_norm_sq": sgd["w_norm_sq"].tolist(), "enc_var": sgd["enc_var"].tolist()}}
        ok = r["grad_norm"] < 1e-6
        return _observation(r["w_norm_sq"], r["enc_var"], r["elbo"], p["lam1"], info, ok,
                            f"torch L-BFGS {r['steps']} steps, grad norm {r['grad_norm']:.1e} on {r['device']}; "
                            f"observed only: Adam on the stochastic ELBO ({sgd['steps']} steps) has {sgd_active} "
                            f"latents with ||w||^2 > 0.1 beta sigma^2")


def _cvae_S(p):
    return th.cvae_covariance(p["dx"], p["dy"], p["corr"], p["lam1"], p["rho"])[0]


def _cvae_control(marginal=False, **which):
    def perturb(p, f):
        s2 = th.exact(p["eta2"])
        if marginal:     # the correlation ignored: the variances of y instead of the Schur complement
            S = _cvae_S(p)
            lams = sorted((S[p["dx"] + i, p["dx"] + i] for i in range(p["dy"])), key=lambda e: -float(e))
            return {**f, **th.vae_formulas(lams, p["q"], p["eta2"], p["beta"])}
        return {**f, **th.cvae_formulas(_cvae_S(p), p["dx"], p["q"], p["eta2"], p["beta"], **{k: s2 for k in which})}
    return perturb


@register
class ConditionalVAECollapse(Claim):
    id = "posterior_collapse.cvae"
    title = ("Linear conditional beta-VAE: latent j collapses iff the j-th eigenvalue of "
             "Sigma_yy - Sigma_yx Sigma_xx^-1 Sigma_xy is <= beta eta^2")
    summary = "conditional linear VAE: collapse iff the residual-covariance eigenvalue ≤ βη²"
    summary_source = "Dang et al. 2023"
    statement = (r"\max\ \mathbb E_{x,y}\big[\mathbb E_{q(z|x,y)}\log p(y|z,x)-\beta\,\mathrm{KL}(q(z|x,y)\|p(z))\big]:"
                 r"\ \|u_j\|^2=(\theta_j-\beta\eta^2)_+,\ D_{jj}=\min(\beta\eta^2/\theta_j,1),"
                 r"\ \theta_j=\mathrm{eig}_j(\Sigma_{yy}-\Sigma_{yx}\Sigma_{xx}^{-1}\Sigma_{xy})"
                 r"\quad(q(z|x,y)=N(W_1x+W_2y,D),\ p(y|z,x)=N(U_1z+U_2x,\eta^2I),\ p(z)=N(0,I_q))")
    source = Source("Dang, Tran, Nguyen & Ho", "Beyond vanilla variational autoencoders: detecting posterior "
                    "collapse in conditional and hierarchical variational autoencoders", 2023,
                    "linear CVAE theorem (form recalled; re-derived here: the CVAE ELBO reduces exactly to the "
                    "linear VAE of the residual r = y - Sigma_yx Sigma_xx^-1 x)", arxiv="2306.05023")
    params = (Param("dx", int, 3, "condition (input) dimension", minimum=1, maximum=100),
              Param("dy", int, 4, "output dimension", minimum=1, maximum=100),
              Param("q", int, 4, "latent dimension, q <= dy", minimum=1, maximum=100),
              Param("corr", float, 1.5, "input-output coupling: y = A x + r, A_ij = corr/(i+j+1)", minimum=0.0,
                    maximum=100.0),
              Param("lam1", float, 4.0, "largest residual variance theta_1", minimum=1e-6, maximum=1e6),
              Param("rho", float, 0.5, "theta_j = lam1 * rho^(j-1)", minimum=0.05, maximum=0.95),
              Param("eta2", float, 0.4, "decoder noise variance eta_dec^2 (fixed)", minimum=1e-6, maximum=1e6),
              Param("beta", float, 2.0, "KL weight beta", minimum=1e-3, maximum=1e3))
    test_K = ()
    zero_scale = 1.0
    hypotheses = ("jointly Gaussian (x, y), centred; x ~ N(0, I), y = A x + r with r independent of x",
                  "eta^2 fixed, diagonal encoder covariance", "no theta_j within 3% of beta eta^2")
    tolerances = {
        "numeric": Tolerance(1e-5, "scipy L-BFGS on the exact CVAE ELBO (full W1, W2, U1, U2, rotated x and y "
                                   "spaces), stopped at gradient norm < 1e-6: errors ~1e-7 (observed ~1e-7)"),
        "simulation": Tolerance(1e-5, "torch L-BFGS (autograd) on the exact ELBO of (x, y) samples with covariance "
                                      "exactly Sigma, gradient norm < 1e-6: errors ~5e-7 (observed)")}
    negative_controls = (
        NegativeControl("correlation ignored: variances of y instead of the Schur complement", _cvae_control(True)),
        NegativeControl("collapse threshold eta^2 (beta ignored)", _cvae_control(threshold=True)),
        NegativeControl("encoder variance D = eta^2/theta (beta ignored)", _cvae_control(enc=True)),
    )

    def validate(self, p):
        if p["q"] > p["dy"]:
            raise ParameterError("q", f"q={p['q']} > dy={p['dy']}: more latents than output dimensions")
        thr = p["beta"] * p["eta2"]
        th_ = nm.geometric_spectrum(p["dy"], p["lam1"], p["rho"])[:p["q"]]
        near = np.abs(th_ - thr) < 0.03 * thr
        if near.any():
            raise ParameterError("beta", f"theta={th_[near][0]:g} is within 3% of beta*eta2={thr:g}: degenerate "
                                         f"(quartic) optimum, no optimizer converges to 1e-5 in the budget")

    def formulas(self, p):
        return th.cvae_formulas(_cvae_S(p), p["dx"], p["q"], p["eta2"], p["beta"])

    def prove(self, p, formulas):
        return th.prove_cvae(formulas, _cvae_S(p), p["dx"], p["q"], p["eta2"], p["beta"])

    def _cov(self, p):
        return np.array(_cvae_S(p).evalf(), dtype=np.float64)

    def numeric(self, p, ctx):
        rng = ctx.rng("numeric")
        dx, dy = p["dx"], p["dy"]
        B = np.zeros((dx + dy, dx + dy))
        B[:dx, :dx], B[dx:, dx:] = nm.random_rotation(dx, rng), nm.random_rotation(dy, rng)
        r = nm.fit_cvae(B @ self._cov(p) @ B.T, dx, p["q"], p["eta2"], p["beta"], rng, starts=4)
        spread = float(r.values.max() - r.values.min())
        return _observation(r.w_norm_sq, r.enc_var, r.elbo, p["lam1"],
                            {"starts": r.starts, "grad_norm": r.grad_norm, "start_spread": spread,
                             "method": "scipy L-BFGS-B, full W1, W2, U1, U2, log D, rotated x and y"},
                            r.converged, f"best of {r.starts} starts, grad norm {r.grad_norm:.1e}, "
                                         f"spread of final ELBOs {spread:.1e}")

    def simulate(self, p, ctx):
        r = sm.train_cvae(self._cov(p), p["dx"], p["q"], p["eta2"], p["beta"], ctx.seed_for("simulation"), ctx.device)
        ok = r["grad_norm"] < 1e-6
        return _observation(r["w_norm_sq"], r["enc_var"], r["elbo"], p["lam1"],
                            {"steps": r["steps"], "grad_norm": r["grad_norm"], "device": r["device"], "samples": r["n"]},
                            ok, f"torch L-BFGS {r['steps']} steps, grad norm {r['grad_norm']:.1e} on {r['device']}")


# ------------------------------------------------------------------------------ beta and the encoder variance
def _beta_lams(p):
    return th.spectrum(p["d"], p["lam1"], p["rho"])


def _beta_control(**kw):
    def perturb(p, f):
        kw2 = {k: (th.exact(p[v]) if isinstance(v, str) else v) for k, v in kw.items()}
        return {**f, **th.beta_formulas(_beta_lams(p), p["q"], p["eta2"], p["beta"], p["sigma_e2"], **kw2)}
    return perturb


def _fixed_as_learnable(p, f):
    return {**f, **{f"fixed_dec_sv_sq_{k}": f[f"learn_w_norm_sq_{k}"] for k in range(1, p["q"] + 1)}}


@register
class BetaEncoderVarianceCollapse(Claim):
    id = "posterior_collapse.beta"
    title = ("Linear beta-VAE, learnable vs fixed encoder variance: omega_i^2 = (theta_i^2 - beta eta^2)_+ vs "
             "collapse iff theta_i <= sqrt(beta) eta sigma_e")
    summary = "learnable encoder variance ω² = (θ² − βη²)₊; fixed σ_e²: collapse iff θ ≤ √β·η·σ_e"
    summary_source = "Dang et al. 2023"
    statement = (r"\max\ \mathbb E_x\big[\mathbb E_{q(z|x)}\log p(x|z)-\beta\,\mathrm{KL}(q(z|x)\|N(0,I_q))\big],"
                 r"\ p(x|z)=N(Wz,\eta^2I),\ q(z|x)=N(Vx,\Sigma_e),\ \theta_i^2=\mathrm{eig}_i(\mathbb E xx^\top):"
                 r"\ \Sigma_e\text{ learnable diagonal: }\omega_i^2=(\theta_i^2-\beta\eta^2)_+;"
                 r"\ \Sigma_e=\sigma_e^2I\text{ fixed: collapse iff }\theta_i\le\sqrt\beta\,\eta\,\sigma_e,\ "
                 r"\text{else }\omega_i^2=t_i\sqrt\beta\,\eta\,\theta_i/\sigma_e,\ "
                 r"\|v_i\|^2=t_i\sigma_e/(\sqrt\beta\,\eta\,\theta_i),\ t_i=1-\sqrt\beta\,\eta\,\sigma_e/\theta_i")
    source = Source("Dang, Tran, Nguyen & Ho", "Beyond vanilla variational autoencoders: detecting posterior "
                    "collapse in conditional and hierarchical variational autoencoders", 2023,
                    "linear VAE section: learnable vs unlearnable encoder variance (form recalled from the "
                    "catalogue; the paper's theorem text was not reachable, so both optima, the thresholds and the "
                    "fixed-variance decoder/encoder singular values are re-derived here with sympy)",
                    arxiv="2306.05023")
    params = (Param("d", int, 6, "data dimension", minimum=1, maximum=200),
              Param("q", int, 5, "latent dimension, q <= d", minimum=1, maximum=200),
              Param("lam1", float, 4.0, "largest data-covariance eigenvalue theta_1^2", minimum=1e-6, maximum=1e6),
              Param("rho", float, 0.5, "theta_j^2 = lam1 * rho^(j-1)", minimum=0.05, maximum=0.95),
              Param("eta2", float, 0.4, "decoder noise variance eta_dec^2 (fixed)", minimum=1e-6, maximum=1e6),
              Param("beta", float, 2.0, "KL weight beta", minimum=1e-3, maximum=1e3),
              Param("sigma_e2", float, 0.5, "the fixed encoder variance sigma_e^2", minimum=1e-4, maximum=1e4))
    test_K = ()
    zero_scale = 1.0            # collapsed singular values are compared absolutely (data variances are O(1))
    hypotheses = ("Gaussian data, centred; prior N(0, I_q) (eta_enc = 1)",
                  "eta^2 fixed; learnable case: diagonal encoder covariance; fixed case: Sigma_e = sigma_e^2 I, "
                  "so the latent space is rotation-invariant and the identifiable quantities are the singular "
                  "values of the decoder W and the encoder V (paired in one latent basis)",
                  "distinct eigenvalues; none within 3% of beta eta^2 or beta eta^2 sigma_e^2")
    tolerances = {
        "numeric": Tolerance(1e-5, "scipy L-BFGS on the exact population ELBO (full W, V, rotated Sigma; best of 4 "
                                   "starts), stopped at gradient norm < 1e-6: parameter errors ~1e-7 (observed)"),
        "simulation": Tolerance(1e-5, "torch L-BFGS (autograd) on the ELBO of 64 samples with covariance exactly "
                                      "Sigma, stopped at gradient norm < 1e-6: errors ~1e-7 (observed)")}
    negative_controls = (
        NegativeControl("fixed variance: beta instead of sqrt(beta) (threshold theta <= beta eta sigma_e)",
                        _beta_control(root_beta="beta")),
        NegativeControl("fixed variance ignored: sigma_e = 1 (threshold theta <= sqrt(beta) eta)",
                        _beta_control(se=1)),
        NegativeControl("the learnable optimum (theta^2 - beta eta^2)_+ claimed for the fixed-variance decoder",
                        _fixed_as_learnable),
        NegativeControl("learnable: decoder norm theta^2 - eta^2 (beta ignored)", _beta_control(learn_gap="eta2")),
        NegativeControl("learnable: encoder variance eta^2/theta^2 (beta ignored)", _beta_control(learn_enc="eta2")),
    )

    def validate(self, p):
        if p["q"] > p["d"]:
            raise ParameterError("q", f"q={p['q']} > d={p['d']}: more latents than data dimensions")
        lams = nm.geometric_spectrum(p["d"], p["lam1"], p["rho"])[:p["q"]]
        for name, thr in (("beta", p["beta"] * p["eta2"]), ("sigma_e2", p["beta"] * p["eta2"] * p["sigma_e2"])):
            near = np.abs(lams - thr) < 0.03 * thr
            if near.any():
                raise ParameterError(name, f"theta^2={lams[near][0]:g} is within 3% of the threshold {thr:g}: "
                                           f"degenerate optimum, no optimizer converges to 1e-5 in the budget")

    def formulas(self, p):
        return th.beta_formulas(_beta_lams(p), p["q"], p["eta2"], p["beta"], p["sigma_e2"])

    def prove(self, p, formulas):
        return th.prove_beta(formulas, _beta_lams(p), p["q"], p["eta2"], p["beta"], p["sigma_e2"])

    @staticmethod
    def _values(dec, enc, elbo_f, norms, encv, elbo_l, lam1):
        v = {f"fixed_dec_sv_sq_{k}": float(a) for k, a in enumerate(dec, start=1)}
        v.update({f"fixed_enc_sv_sq_{k}": float(a) for k, a in enumerate(enc, start=1)})
        v["fixed_active"], v["fixed_elbo"] = float(np.sum(dec > ACTIVE_CUT * lam1)), float(elbo_f)
        v.update({f"learn_w_norm_sq_{k}": float(a) for k, a in enumerate(norms, start=1)})
        v.update({f"learn_enc_var_{k}": float(a) for k, a in enumerate(encv, start=1)})
        v["learn_active"], v["learn_elbo"] = float(np.sum(norms > ACTIVE_CUT * lam1)), float(elbo_l)
        return v

    def numeric(self, p, ctx):
        spec = nm.geometric_spectrum(p["d"], p["lam1"], p["rho"])
        rng = ctx.rng("numeric")
        a = nm.fit_fixed(spec, p["q"], p["eta2"], p["beta"], p["sigma_e2"], rng, starts=4)
        b = nm.fit(spec, p["q"], p["eta2"], p["beta"], rng, starts=4)
        ok = a.converged and b.converged
        return Observation(self._values(a.w_norm_sq, a.enc_var, a.elbo, b.w_norm_sq, b.enc_var, b.elbo, p["lam1"]),
                           {"grad_norm_fixed": a.grad_norm, "grad_norm_learnable": b.grad_norm,
                            "start_spread_fixed": float(np.ptp(a.values)),
                            "start_spread_learnable": float(np.ptp(b.values)),
                            "method": "scipy L-BFGS-B on the exact ELBO, full W, V (and log D), rotated Sigma"},
                           converged=ok, message=f"grad norms {a.grad_norm:.1e} (fixed), {b.grad_norm:.1e} (learnable)")

    def simulate(self, p, ctx):
        spec = nm.geometric_spectrum(p["d"], p["lam1"], p["rho"])
        seed = ctx.seed_for("simulation")
        a = sm.train_fixed(spec, p["q"], p["eta2"], p["beta"], p["sigma_e2"], seed, ctx.device)
        b = sm.train_exact(spec, p["q"], p["eta2"], p["beta"], seed + 1, ctx.device)
        sgd = sm.train_fixed_sgd(spec, p["q"], p["eta2"], p["beta"], p["sigma_e2"], seed + 2, ctx.device)
        thr = p["beta"] * p["eta2"] * p["sigma_e2"]
        sgd_active = int(np.sum(sgd["dec_sv_sq"] > 0.1 * thr))
        ok = a["grad_norm"] < 1e-6 and b["grad_norm"] < 1e-6
        info = {"steps_fixed": a["steps"], "grad_norm_fixed": a["grad_norm"], "steps_learnable": b["steps"],
                "grad_norm_learnable": b["grad_norm"], "device": a["device"], "samples": a["n"],
                "sgd_observed_fixed_variance": {"steps": sgd["steps"], "batch": sgd["batch"], "active": sgd_active,
                                                "dec_sv_sq": sgd["dec_sv_sq"].tolist(),
                                                "enc_sv_sq": sgd["enc_sv_sq"].tolist()}}
        return Observation(self._values(a["dec_sv_sq"], a["enc_sv_sq"], a["elbo"], b["w_norm_sq"], b["enc_var"],
                                        b["elbo"], p["lam1"]), info, converged=ok,
                           message=f"torch L-BFGS on samples: grad norms {a['grad_norm']:.1e} (fixed, {a['steps']} "
                                   f"steps), {b['grad_norm']:.1e} (learnable); observed only: Adam on the stochastic "
                                   f"ELBO with fixed variance has {sgd_active} latents with "
                                   f"sv^2 > 0.1 beta eta^2 sigma_e^2")
